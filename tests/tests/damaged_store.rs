//! A damaged store is never opened silently: a truncated, zeroed or bit-flipped database file, a
//! deleted one, or an older copy put back in its place makes `liaison serve` refuse to start with
//! exit code 3 and a message that says what is missing and what to do; random damage never panics
//! and never yields a store that opens with notices missing or changed.

use liaison_proto::v1 as pb;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use liaison_store::{DB_FILE, Store};
use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, binary, drafts};

/// A stopped federation whose 宝塔区 store holds delivered notices both ways, and a pristine copy
/// of that store's directory.
struct Damaged {
    fed: Federation,
    store_dir: PathBuf,
    pristine: tempfile::TempDir,
    envelopes: BTreeMap<String, Vec<u8>>,
}

async fn stopped_store_with_notices() -> Damaged {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let mut ids = Vec::new();
    for kind in ["case_notice", "contact_letter", "bulletin"] {
        ids.push(
            baota
                .send(&drafts::draft(kind, Some(ANSAI)))
                .await
                .notice_id,
        );
        ansai.send(&drafts::draft(kind, Some(BAOTA))).await;
    }
    for id in &ids {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    baota
        .wait_for_inbox("three notices from 安塞区", |inbox| inbox.len() == 3)
        .await;
    fed.stop(BAOTA).await;
    fed.stop(ANSAI).await;
    let store_dir = fed.node(BAOTA).data_dir().join("store");
    let envelopes = {
        let store = Store::open(&store_dir).expect("the store opens before any damage");
        let mut all = BTreeMap::new();
        for r in store.all_outbound().unwrap() {
            all.insert(
                r.id.to_string(),
                store.outbound_envelope(&r.id).unwrap().unwrap(),
            );
        }
        for r in store.all_inbound().unwrap() {
            all.insert(
                r.id.to_string(),
                store.inbound_envelope(&r.id).unwrap().unwrap(),
            );
        }
        store.close().await.unwrap();
        all
    };
    let pristine = tempfile::tempdir().unwrap();
    copy_dir(&store_dir, pristine.path());
    Damaged {
        fed,
        store_dir,
        pristine,
        envelopes,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

impl Damaged {
    fn db(&self) -> PathBuf {
        self.store_dir.join(DB_FILE)
    }

    fn reset(&self) {
        for entry in std::fs::read_dir(&self.store_dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::remove_file(path).unwrap();
            }
        }
        copy_dir(self.pristine.path(), &self.store_dir);
    }

    /// Runs `liaison serve` on the damaged store: it must refuse at once with exit code 3.
    fn serve_refuses(&self, what: &str, expected: &str) {
        let output = Command::new(binary::liaison())
            .arg("serve")
            .arg("--config")
            .arg(self.fed.node(BAOTA).config_path())
            .output()
            .expect("the liaison binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(3),
            "{what}: exit code 3 expected; stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("the store is damaged") && stderr.contains(expected),
            "{what}: the message names the damage ({expected:?}); stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("liaison restore") && stderr.contains("accept-peer-log"),
            "{what}: the message says what to do; stderr:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: no panic:\n{stderr}");
    }
}

fn edit(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    change(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_zeroed_flipped_or_deleted_store_files_are_refused_with_exit_code_3() {
    let damaged = stopped_store_with_notices().await;
    let db = damaged.db();

    edit(&db, |b| b.truncate(b.len() / 2));
    damaged.serve_refuses("truncated to half", "truncated");
    damaged.reset();

    edit(&db, |b| b.truncate(0));
    damaged.serve_refuses("truncated to nothing", "missing or empty");
    damaged.reset();

    edit(&db, |b| b.iter_mut().for_each(|x| *x = 0));
    damaged.serve_refuses("zeroed", "does not start with a SQLite header");
    damaged.reset();

    std::fs::remove_file(&db).unwrap();
    damaged.serve_refuses("deleted", "missing or empty");
    damaged.reset();

    // One bit of a stored envelope, well inside its bytes.
    let (id, envelope) = damaged.envelopes.iter().next_back().unwrap();
    edit(&db, |b| {
        let at = find(b, envelope).unwrap_or_else(|| panic!("envelope {id} in the file"));
        b[at + envelope.len() / 2] ^= 0x10;
    });
    damaged.serve_refuses(
        "a bit of an envelope flipped",
        "were changed after they were stored",
    );
    damaged.reset();

    // One bit of the second page's header (its page type), which SQLite's check sees.
    edit(&db, |b| b[4096] ^= 0x01);
    damaged.serve_refuses("a page header bit flipped", "SQLite's integrity check");
    damaged.reset();

    // The pristine store still starts: the checks do not refuse a sound store.
    let store = Store::open(&damaged.store_dir).expect("a sound store opens");
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_copy_of_the_store_put_back_in_place_is_refused_as_missing_log_entries() {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let first = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&first.notice_id, pb::NoticeStatus::Delivered)
        .await;
    fed.stop(BAOTA).await;
    let store_dir = fed.node(BAOTA).data_dir().join("store");
    let old = tempfile::tempdir().unwrap();
    std::fs::copy(store_dir.join(DB_FILE), old.path().join(DB_FILE)).unwrap();

    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;
    for _ in 0..3 {
        let info = baota
            .send(&drafts::draft("contact_letter", Some(ANSAI)))
            .await;
        baota
            .wait_for_status(&info.notice_id, pb::NoticeStatus::Delivered)
            .await;
    }
    fed.stop(BAOTA).await;
    // An administrator "restores" by copying the old database file over the current one.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(store_dir.join(format!("{DB_FILE}{suffix}")));
    }
    std::fs::copy(old.path().join(DB_FILE), store_dir.join(DB_FILE)).unwrap();
    let output = Command::new(binary::liaison())
        .arg("serve")
        .arg("--config")
        .arg(fed.node(BAOTA).config_path())
        .output()
        .expect("the liaison binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "stderr:\n{stderr}");
    assert!(
        stderr.contains("log entries are missing") && stderr.contains("entries and the notices"),
        "the message says how many entries are missing; stderr:\n{stderr}"
    );
    fed.shutdown().await;
}

/// A small deterministic generator (xorshift64*), so that a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_damage_never_panics_and_never_opens_a_store_with_notices_missing_or_changed() {
    let damaged = stopped_store_with_notices().await;
    let db = damaged.db();
    let len = std::fs::metadata(&db).unwrap().len();
    let seed = 0x5eed_1234_u64;
    let mut rng = Rng(seed);
    let (mut refused, mut harmless) = (0, 0);
    for case in 0..40 {
        damaged.reset();
        let flips = 1 + rng.next() % 8;
        edit(&db, |b| {
            for _ in 0..flips {
                let at = (rng.next() % len) as usize;
                b[at] ^= 1 << (rng.next() % 8);
            }
        });
        let dir = damaged.store_dir.clone();
        let opened = std::thread::spawn(move || Store::open(&dir))
            .join()
            .unwrap_or_else(|_| panic!("case {case} (seed {seed:#x}): opening panicked"));
        match opened {
            Err(e) => {
                refused += 1;
                assert!(
                    e.to_string().contains("damaged") || e.to_string().contains("storage error"),
                    "case {case}: a refusal says why: {e}"
                );
            }
            Ok(store) => {
                harmless += 1;
                // Opened: then nothing may be missing or changed.
                for (id, bytes) in &damaged.envelopes {
                    let id = id.parse().unwrap();
                    let held = store
                        .outbound_envelope(&id)
                        .ok()
                        .flatten()
                        .or_else(|| store.inbound_envelope(&id).ok().flatten());
                    assert_eq!(
                        held.as_ref(),
                        Some(bytes),
                        "case {case} (seed {seed:#x}): the store opened, so notice {id} must be intact"
                    );
                }
                let _ = store.close().await;
            }
        }
    }
    eprintln!("random damage (seed {seed:#x}): {refused} refused, {harmless} harmless");
    assert!(refused > 0, "some of the damage must have been noticed");
}
