//! The store itself, on the lazy file system, keeps every write it acknowledged across repeated
//! power cuts, including the writes made after recovering from an earlier cut.

use liaison_core::{CountyCode, NoticeId, NoticeKind};
use liaison_store::{OutboundRecord, Store};
use liaison_tests::lazyfs::LazyFs;

fn record(n: u64) -> OutboundRecord {
    OutboundRecord::queued(
        NoticeId::new(1_000 + n, [(n % 251) as u8; 10]),
        CountyCode::parse("610603").unwrap(),
        NoticeKind::CaseNotice,
        false,
        1_000 + n as i64,
        None,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_repeated_power_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let lazy = LazyFs::mount(&dir.path().join("durable"), &dir.path().join("disk"))
        .unwrap_or_else(|e| panic!("{e}"));
    let store_dir = lazy.mountpoint().join("store");
    let mut acknowledged = Vec::new();
    let mut n = 0u64;
    for cut in 0..12 {
        let store = Store::open(&store_dir)
            .unwrap_or_else(|e| panic!("cut {cut}: the store does not open: {e}"));
        for id in &acknowledged {
            assert!(
                store.outbound(id).unwrap().is_some(),
                "cut {cut}: acknowledged notice {id} is gone"
            );
        }
        for _ in 0..(20 + cut * 7) {
            n += 1;
            let r = record(n);
            let envelope = vec![(n % 256) as u8; 3000];
            store.enqueue(&r, &envelope, [1; 32], None).await.unwrap();
            acknowledged.push(r.id);
        }
        // The power goes: nothing more reaches the disk, and the old handles are dead. The old
        // store is then closed (it can write nothing) so that this process, which also serves
        // the file system, holds no file of it when it exits.
        lazy.crash();
        let _ = store.close().await;
        drop(store);
    }
}
