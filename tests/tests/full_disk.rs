//! A full disk loses nothing and wedges nothing: with the node's data directory on a small tmpfs
//! that is filled up, a `send` that fails says so and its notice never leaves the node, notices
//! delivered to the node get no receipt until they can be stored, the node reports the failing
//! storage (the `liaison_storage_failing` metric, `liaison peers`), and once space is freed it
//! works again without a restart; every notice acknowledged before, during or after arrives once.

use liaison_proto::v1 as pb;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, drafts, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tmpfs of `size` mounted over `dir` (keeping what `dir` held), unmounted when dropped.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount_over(dir: &Path, size: &str) -> Self {
        let held = tempfile::tempdir().unwrap();
        copy_tree(dir, held.path());
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount(8) runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs over {} (this test needs root, as the CI machine has): {status}",
            dir.display()
        );
        copy_tree(held.path(), dir);
        Self {
            dir: dir.to_owned(),
        }
    }

    /// Fills the disk with one file; returns it.
    fn fill(&self) -> PathBuf {
        let filler = self.dir.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0xa5u8; 64 * 1024];
        loop {
            if let Err(e) = file.write_all(&chunk) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                break;
            }
        }
        // The last bytes a partial write may leave.
        while file.write_all(&[0u8; 512]).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

async fn metrics(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_sends_clearly_keeps_everything_acknowledged_and_recovers_without_restart()
 {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    fed.stop(BAOTA).await;
    let disk = SmallDisk::mount_over(&fed.node(BAOTA).data_dir(), "3m");
    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let admin = fed.node(BAOTA).admin_addr();

    let before = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&before.notice_id, pb::NoticeStatus::Delivered)
        .await;

    let filler = disk.fill();
    // Sends may still fit in space the store already holds; keep sending until one fails.
    let mut accepted = vec![before.notice_id.clone()];
    let mut refusal = None;
    for _ in 0..400 {
        match baota
            .try_send(&drafts::draft("contact_letter", Some(ANSAI)), "")
            .await
        {
            Ok(info) => accepted.push(info.notice_id),
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    let refusal = refusal.expect("a send fails once the disk is full");
    assert_eq!(
        refusal.code(),
        tonic::Code::ResourceExhausted,
        "{refusal:?}"
    );
    assert!(
        refusal.message().starts_with("nothing was written")
            && refusal.message().contains("disk is full"),
        "the refusal says nothing was queued and why: {refusal:?}"
    );
    // The failed send left nothing behind: the outbox holds exactly the accepted notices.
    let outbox: BTreeSet<String> = baota
        .outbox()
        .await
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(
        outbox,
        accepted.iter().cloned().collect::<BTreeSet<_>>(),
        "only the acknowledged sends are in the outbox"
    );
    eventually("the storage-failing metric to be 1", || async {
        let text = metrics(admin).await;
        if text.contains("\nliaison_storage_failing 1") {
            Ok(())
        } else {
            Err("liaison_storage_failing is not 1".to_owned())
        }
    })
    .await;

    // 安塞区 sends to 宝塔区 meanwhile: no receipt while it cannot be stored.
    let waiting = ansai
        .send(&drafts::draft("contact_letter", Some(BAOTA)))
        .await;
    eventually(
        "安塞区's delivery to be tried and refused a receipt",
        || {
            let mut ansai = ansai.clone();
            let id = waiting.notice_id.clone();
            async move {
                let info = ansai.info(&id).await;
                if info.status() == pb::NoticeStatus::InFlight && info.attempts > 0 {
                    Ok(())
                } else {
                    Err(format!("{info:?}"))
                }
            }
        },
    )
    .await;

    // Space comes back: the node works again without a restart.
    std::fs::remove_file(filler).unwrap();
    ansai.retry_if_pending(&waiting.notice_id).await;
    ansai
        .wait_for_status(&waiting.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let after = eventually("a send to succeed again", || {
        let mut baota = baota.clone();
        async move {
            baota
                .try_send(&drafts::draft("bulletin", Some(ANSAI)), "")
                .await
                .map_err(|s| format!("{s:?}"))
        }
    })
    .await;
    accepted.push(after.notice_id);
    eventually("the storage-failing metric to be 0", || async {
        let text = metrics(admin).await;
        if text.contains("\nliaison_storage_failing 0") {
            Ok(())
        } else {
            Err("liaison_storage_failing is not 0".to_owned())
        }
    })
    .await;

    for id in &accepted {
        baota.retry_if_pending(id).await;
    }
    for id in &accepted {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    let from_baota: Vec<String> = ansai
        .inbox()
        .await
        .into_iter()
        .filter(|n| n.peer == BAOTA)
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(from_baota.len(), accepted.len(), "each exactly once");
    assert_eq!(
        from_baota.into_iter().collect::<BTreeSet<_>>(),
        accepted.into_iter().collect::<BTreeSet<_>>(),
        "every acknowledged send arrived, and the refused one never left"
    );
    let to_baota: Vec<String> = baota
        .inbox()
        .await
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(
        to_baota,
        vec![waiting.notice_id],
        "stored once, after space returned"
    );
    fed.shutdown().await;
    drop(disk);
}
