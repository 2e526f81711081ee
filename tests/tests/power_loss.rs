//! Power cuts in the middle of a busy exchange: two counties send to each other continuously, each
//! node a `liaison serve` process whose data directory lies on a [`LazyFs`] mount, and at random
//! moments every process is killed at once and everything not fsynced is thrown away. After every
//! cut each store must open, and each node must still hold what it promised: every notice whose
//! Send was answered, and every notice for which it gave a signed receipt, each exactly once. At
//! the end both nodes' logs must verify as audit bundles.
//!
//! `LIAISON_POWER_CUTS` sets the number of cuts and `LIAISON_POWER_SEED` the seed of the random
//! delays and drafts (printed at the start, so that a failing run can be repeated).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use liaison_proto::v1 as pb;
use liaison_tests::federation::summary;
use liaison_tests::lazyfs::LazyFs;
use liaison_tests::{ANSAI, BAOTA, Federation, Operator, binary, drafts, eventually, within};

/// The two counties and who sends to whom.
const COUNTIES: [(&str, &str); 2] = [(BAOTA, "宝塔区"), (ANSAI, "安塞区")];
const DIRECTIONS: [(&str, &str); 2] = [(BAOTA, ANSAI), (ANSAI, BAOTA)];

/// Concurrent sender tasks per direction.
const SENDERS_PER_DIRECTION: usize = 2;

/// Each sender sends at most one notice per this period. Unpaced, a debug build acknowledges some
/// 500 sends a second, and a run's notices would outgrow what one listing shows.
const SEND_EVERY: Duration = Duration::from_millis(50);

/// How many of the notices lost at one cut are named in the output.
const EXAMPLES: usize = 3;

/// Cuts when `LIAISON_POWER_CUTS` is not set: about a minute and a half of a debug build on two
/// cores, some 5000 notices.
const DEFAULT_CUTS: usize = 50;
/// Cuts in CI (`CI=true`), which runs the whole suite within its time limit: about 70 seconds.
const CI_CUTS: usize = 40;

/// The random wait before each cut, in milliseconds.
const CUT_AFTER_MS: std::ops::Range<u64> = 100..2500;

/// Kinds of new notices (no reply needed to send them) that the senders pick from.
const KINDS: [&str; 6] = [
    "case_notice",
    "contact_letter",
    "bulletin",
    "certificate_query",
    "fee_consultation",
    "contraception_report",
];

/// SplitMix64: a few lines of deterministic randomness, enough for delays and draft choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn in_range(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next() % (range.end - range.start)
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

/// A long text of `chars` Chinese characters (three bytes each in UTF-8), in lines.
fn long_text(chars: usize) -> String {
    let line = "本季度流动人口信息交换工作按协议进行,个案通报均已在规定时间内复函。\n";
    line.chars().cycle().take(chars).collect()
}

/// A draft to `to`: one time in four a bulletin or contact letter with a long text (up to 8000
/// characters, about 24 KB), else the example of a random kind.
fn pick_draft(rng: &mut Rng, to: &str) -> String {
    if rng.next().is_multiple_of(4) {
        let kind = if rng.next().is_multiple_of(2) {
            "bulletin"
        } else {
            "contact_letter"
        };
        let chars = rng.in_range(2000..8001) as usize;
        drafts::with_member(
            &drafts::draft(kind, Some(to)),
            "/body/text",
            long_text(chars).into(),
        )
    } else {
        drafts::draft(KINDS[rng.next() as usize % KINDS.len()], Some(to))
    }
}

/// What the test knows the nodes promised, over the whole run.
#[derive(Default)]
struct Ledger {
    /// Notice id → (sender, recipient), for every Send that was answered.
    acknowledged: BTreeMap<String, (String, String)>,
    /// Notice id → (sender, recipient), for every notice its sender showed as delivered, that is
    /// holding the recipient's signed receipt (whether or not its Send was answered).
    receipted: BTreeMap<String, (String, String)>,
    /// Sends refused while the nodes were up (not a durability failure; reported).
    refused: Vec<String>,
}

/// Losses found after cuts; the test passes only if all stay zero.
#[derive(Default, Debug, Clone, Copy)]
struct Losses {
    acknowledged_missing: usize,
    receipted_missing: usize,
    duplicates: usize,
    failed_opens: usize,
}

impl Losses {
    fn add(&mut self, other: Losses) {
        self.acknowledged_missing += other.acknowledged_missing;
        self.receipted_missing += other.receipted_missing;
        self.duplicates += other.duplicates;
        self.failed_opens += other.failed_opens;
    }

    fn any(&self) -> bool {
        self.acknowledged_missing + self.receipted_missing + self.duplicates + self.failed_opens > 0
    }
}

async fn list(
    op: &mut Operator,
    inbox: bool,
    status: pb::NoticeStatus,
) -> Result<Vec<pb::NoticeInfo>, String> {
    let request = pb::ListRequest {
        status: status as i32,
        peer: String::new(),
        limit: liaison_node::MAX_LIST_LIMIT as u32,
    };
    let client = op.client();
    let response = if inbox {
        client.list_inbox(request).await
    } else {
        client.list_outbox(request).await
    };
    let notices = response
        .map_err(|s| format!("{} cannot list: {s:?}", op.county()))?
        .into_inner()
        .notices;
    assert!(
        notices.len() < liaison_node::MAX_LIST_LIMIT,
        "a listing reached its limit; use fewer cuts"
    );
    Ok(notices)
}

/// Sends drafts from `from` to `to` until the send fails (the node was killed) or the cut begins.
async fn send_until_cut(
    mut op: Operator,
    from: &'static str,
    to: &'static str,
    mut rng: Rng,
    ledger: Arc<Mutex<Ledger>>,
    cutting: Arc<AtomicBool>,
) {
    let mut pace = tokio::time::interval(SEND_EVERY);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !cutting.load(Ordering::SeqCst) {
        pace.tick().await;
        let draft = pick_draft(&mut rng, to);
        match op.try_send(&draft, "").await {
            Ok(info) => {
                let previous = ledger
                    .lock()
                    .unwrap()
                    .acknowledged
                    .insert(info.notice_id.clone(), (from.to_owned(), to.to_owned()));
                assert!(previous.is_none(), "Send answered {} twice", info.notice_id);
            }
            Err(status) => {
                if !cutting.load(Ordering::SeqCst) {
                    ledger
                        .lock()
                        .unwrap()
                        .refused
                        .push(format!("{from} → {to}: {status:?}"));
                }
                return;
            }
        }
    }
}

/// Notes every notice its sender shows as delivered, until the cut begins.
async fn watch_receipts(
    mut ops: Vec<Operator>,
    ledger: Arc<Mutex<Ledger>>,
    cutting: Arc<AtomicBool>,
) {
    while !cutting.load(Ordering::SeqCst) {
        for op in &mut ops {
            if let Ok(delivered) = list(op, false, pb::NoticeStatus::Delivered).await {
                let from = op.county().to_string();
                let mut ledger = ledger.lock().unwrap();
                for notice in delivered {
                    ledger
                        .receipted
                        .insert(notice.notice_id, (from.clone(), notice.peer));
                }
            }
        }
        tokio::time::sleep(liaison_tests::poll::INTERVAL).await;
    }
}

/// Ids that occur more than once in `notices`.
fn duplicated(notices: &[pb::NoticeInfo]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    notices
        .iter()
        .filter(|n| !seen.insert(n.notice_id.clone()))
        .map(|n| n.notice_id.clone())
        .collect()
}

/// After a restart: what each node holds against what it promised. Ids already reported lost
/// are not counted again.
async fn check_promises(
    fed: &Federation,
    ledger: &Mutex<Ledger>,
    reported: &mut BTreeSet<String>,
    cut: &str,
) -> Losses {
    let mut losses = Losses::default();
    let mut missing_receipted = Vec::new();
    let mut found: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut outboxes = BTreeMap::new();
    let mut inboxes = BTreeMap::new();
    // Every outbox before any inbox: a notice delivered while the listings are taken (the
    // restarted nodes deliver what they hold) is then in the inbox if its receipt is in an outbox.
    for (county, _) in COUNTIES {
        let mut op = fed.operator(county).await;
        let outbox = list(&mut op, false, pb::NoticeStatus::Unspecified)
            .await
            .unwrap_or_else(|e| panic!("{e}; log of {county}:\n{}", tail(&fed.log(county))));
        outboxes.insert(county, outbox);
    }
    for (county, _) in COUNTIES {
        let mut op = fed.operator(county).await;
        let inbox = list(&mut op, true, pb::NoticeStatus::Unspecified)
            .await
            .unwrap_or_else(|e| panic!("{e}; log of {county}:\n{}", tail(&fed.log(county))));
        inboxes.insert(county, inbox);
    }
    for (county, _) in COUNTIES {
        let (outbox, inbox) = (&outboxes[county], &inboxes[county]);
        for (what, listing) in [("outbox", outbox), ("inbox", inbox)] {
            for id in duplicated(listing) {
                if reported.insert(format!("duplicate {what} {county} {id}")) {
                    found
                        .entry("duplicates")
                        .or_default()
                        .push(format!("{id} more than once in the {what} of {county}"));
                    losses.duplicates += 1;
                }
            }
        }
    }
    let (acknowledged, mut receipted) = {
        let ledger = ledger.lock().unwrap();
        (ledger.acknowledged.clone(), ledger.receipted.clone())
    };
    for (id, (from, to)) in &acknowledged {
        let held = outboxes[from.as_str()].iter().any(|n| &n.notice_id == id);
        if !held && reported.insert(format!("acknowledged {id}")) {
            found
                .entry("acknowledged sends missing")
                .or_default()
                .push(format!(
                    "{from} answered Send of {id} to {to} but no longer has it"
                ));
            losses.acknowledged_missing += 1;
        }
    }
    // Receipted: seen delivered before the cut, or delivered in the outbox now.
    for (county, outbox) in &outboxes {
        for notice in outbox
            .iter()
            .filter(|n| n.status() == pb::NoticeStatus::Delivered)
        {
            receipted.insert(
                notice.notice_id.clone(),
                ((*county).to_owned(), notice.peer.clone()),
            );
        }
    }
    for (id, (from, to)) in &receipted {
        let Some(inbox) = inboxes.get(to.as_str()) else {
            continue;
        };
        let held = inbox.iter().any(|n| &n.notice_id == id);
        if !held && reported.insert(format!("receipted {id}")) {
            let now = outboxes[from.as_str()].iter().find(|n| &n.notice_id == id);
            // What the recipient's own log says of it, to tell a lost write from a lost listing.
            let trail: Vec<String> = fed
                .log(to)
                .lines()
                .filter(|l| l.contains(id.as_str()))
                .map(|l| l.chars().take(300).collect())
                .collect();
            found
                .entry("receipted notices missing")
                .or_default()
                .push(format!(
                    "{from} got {to}'s receipt for {id} (now {}) but {to} has no such notice; \
                     {to}'s log of it:\n      {}",
                    now.map_or("not in the outbox".to_owned(), summary),
                    trail.join("\n      ")
                ));
            losses.receipted_missing += 1;
            missing_receipted.push((id.clone(), to.clone()));
        }
    }
    for (id, to) in missing_receipted {
        let mut op = fed.operator(&to).await;
        let shown = op
            .client()
            .show(pb::NoticeRef {
                notice_id: id.clone(),
            })
            .await;
        let relisted = list(&mut op, true, pb::NoticeStatus::Unspecified)
            .await
            .map(|l| l.iter().any(|n| n.notice_id == id));
        eprintln!(
            "{cut}: {to} asked for {id} directly (listed again: {relisted:?}): {}",
            match shown {
                Ok(d) => format!("found: {:?}", d.into_inner().info.map(|i| i.peer)),
                Err(s) => format!("not found: {}", s.message()),
            }
        );
    }
    for (what, lost) in found {
        eprintln!("{cut}: {} {what}, e.g.", lost.len());
        for example in lost.iter().take(EXAMPLES) {
            eprintln!("    {example}");
        }
    }
    losses
}

/// The last lines of a node's log, for failure messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Exports `county`'s whole log with `liaison audit export` and checks it with `liaison audit
/// verify`; returns what went wrong, if anything.
fn export_and_verify(config: &Path, bundle: &Path) -> Result<(), String> {
    let run = |command: &mut Command| {
        let output = command.output().expect("the liaison binary runs");
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{command:?} exited with {}:\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    run(Command::new(binary::liaison())
        .args(["audit", "export", "--config"])
        .arg(config)
        .args(["--from", "2000-01-01", "--to", "2199-12-31", "--out"])
        .arg(bundle)
        .env_remove("LIAISON_CONFIG")
        .env_remove("LIAISON_TOKEN_FILE"))?;
    run(Command::new(binary::liaison())
        .args(["audit", "verify"])
        .arg(bundle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cuts_lose_no_acknowledged_or_receipted_notice_and_every_store_opens() {
    let cuts = env_number("LIAISON_POWER_CUTS").map_or_else(
        || {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                CI_CUTS
            } else {
                DEFAULT_CUTS
            }
        },
        |n| n as usize,
    );
    let seed = env_number("LIAISON_POWER_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!("power-loss test: {cuts} cuts, seed {seed} (LIAISON_POWER_SEED={seed} repeats it)");
    let mut rng = Rng(seed);
    let started = Instant::now();

    let dir = tempfile::tempdir().expect("a temporary directory");
    let lazy = LazyFs::mount(&dir.path().join("durable"), &dir.path().join("disk"))
        .unwrap_or_else(|e| panic!("the power-loss test needs its FUSE mount: {e}"));
    let mut builder = Federation::builder(&COUNTIES);
    for (county, _) in COUNTIES {
        builder = builder
            .as_process(county)
            .data_dir_under(county, lazy.mountpoint())
            .backoff_ms(county, 50, 1000);
    }
    let mut fed = builder.start().await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut reported = BTreeSet::new();
    let mut total = Losses::default();
    let mut cuts_done = 0;
    for cut in 1..=cuts {
        let cutting = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (from, to) in DIRECTIONS {
            for _ in 0..SENDERS_PER_DIRECTION {
                let op = fed.operator(from).await;
                let task_rng = Rng(rng.next());
                tasks.push(tokio::spawn(send_until_cut(
                    op,
                    from,
                    to,
                    task_rng,
                    ledger.clone(),
                    cutting.clone(),
                )));
            }
        }
        let mut watched = Vec::new();
        for (county, _) in COUNTIES {
            watched.push(fed.operator(county).await);
        }
        tasks.push(tokio::spawn(watch_receipts(
            watched,
            ledger.clone(),
            cutting.clone(),
        )));

        let delay = rng.in_range(CUT_AFTER_MS);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        cutting.store(true, Ordering::SeqCst);
        fed.kill_together(&[BAOTA, ANSAI]);
        for task in tasks {
            within("a sender or watcher to stop after the cut", task)
                .await
                .expect("a sender or watcher task panicked");
        }
        let discarded = lazy.crash();
        cuts_done = cut;

        let mut losses = Losses::default();
        for (county, _) in COUNTIES {
            let earlier = fed.log(county).len();
            if let Err(exited) = fed.try_restart(county).await {
                eprintln!(
                    "cut {cut}: the store does not open again: {}; since the restart it wrote:\n{}",
                    exited.split("; its log:").next().unwrap_or_default(),
                    tail(fed.log(county).get(earlier..).unwrap_or_default())
                );
                losses.failed_opens += 1;
            }
        }
        if losses.failed_opens == 0 {
            losses.add(check_promises(&fed, &ledger, &mut reported, &format!("cut {cut}")).await);
        }
        let (acknowledged, receipted) = {
            let ledger = ledger.lock().unwrap();
            (ledger.acknowledged.len(), ledger.receipted.len())
        };
        eprintln!(
            "cut {cut}/{cuts} after {delay} ms: {} files / {} bytes not fsynced were lost; \
             {acknowledged} sends acknowledged and {receipted} receipted so far; this cut lost \
             {} acknowledged sends, {} receipted notices, {} duplicates, {} stores that do not open",
            discarded.files,
            discarded.bytes,
            losses.acknowledged_missing,
            losses.receipted_missing,
            losses.duplicates,
            losses.failed_opens,
        );
        total.add(losses);
        if losses.failed_opens > 0 {
            break;
        }
    }

    let mut audit_failures = Vec::new();
    if total.failed_opens == 0 {
        // Whatever is still queued is delivered, and then every acknowledged notice has a
        // receipt: each must have reached its recipient, once.
        for (county, _) in COUNTIES {
            let op = fed.operator(county).await;
            eventually(&format!("the outbox of {county} to be delivered"), || {
                let mut op = op.clone();
                async move {
                    let outbox = list(&mut op, false, pb::NoticeStatus::Unspecified).await?;
                    let waiting: Vec<String> = outbox
                        .iter()
                        .filter(|n| n.status() != pb::NoticeStatus::Delivered)
                        .map(summary)
                        .collect();
                    if waiting.is_empty() {
                        Ok(())
                    } else {
                        Err(format!(
                            "{} not delivered: {:?}",
                            waiting.len(),
                            waiting.first()
                        ))
                    }
                }
            })
            .await;
        }
        let losses = check_promises(&fed, &ledger, &mut reported, "at the end").await;
        eprintln!("at the end: {losses:?}");
        total.add(losses);

        for (county, _) in COUNTIES {
            let config = fed.node(county).config_path().to_owned();
            let bundle = dir.path().join(format!("audit-{county}.json"));
            let verified = tokio::task::spawn_blocking(move || export_and_verify(&config, &bundle))
                .await
                .expect("the audit export runs");
            if let Err(e) = verified {
                eprintln!("the log of {county} does not verify: {e}");
                audit_failures.push(county);
            }
        }
    }

    fed.shutdown().await;
    let stats = lazy.stats();
    let ledger = ledger.lock().unwrap();
    eprintln!(
        "power-loss test, seed {seed}: {cuts_done} cuts in {:.0?}; {} sends acknowledged, {} \
         receipted; fsyncs {} fdatasyncs {}; lost: {} acknowledged sends, {} receipted notices, \
         {} duplicates, {} stores that do not open; {} logs that do not verify",
        started.elapsed(),
        ledger.acknowledged.len(),
        ledger.receipted.len(),
        stats.fsyncs,
        stats.fdatasyncs,
        total.acknowledged_missing,
        total.receipted_missing,
        total.duplicates,
        total.failed_opens,
        audit_failures.len(),
    );
    if !ledger.refused.is_empty() {
        eprintln!(
            "{} sends were refused while the nodes ran, e.g. {}",
            ledger.refused.len(),
            ledger.refused[0]
        );
    }
    assert!(
        !total.any() && audit_failures.is_empty(),
        "power cuts broke the store's promises (seed {seed}): {total:?}, logs that do not \
         verify: {audit_failures:?}"
    );
}
