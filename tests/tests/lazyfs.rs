//! The lazy file system used by the power-loss test loses exactly what a power cut loses: data
//! and size changes not fsynced, and nothing that was.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use liaison_tests::lazyfs::LazyFs;

/// A lazy mount over a fresh backing directory; the mount goes before the directories do.
struct Mounted {
    fs: LazyFs,
    backing: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mounted {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let backing = dir.path().join("backing");
        let fs = LazyFs::mount(&backing, &dir.path().join("mnt")).unwrap_or_else(|e| panic!("{e}"));
        Mounted {
            fs,
            backing,
            _dir: dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.fs.mountpoint().join(name)
    }

    fn durable(&self, name: &str) -> Vec<u8> {
        fs::read(self.backing.join(name)).unwrap()
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

#[test]
fn data_written_and_not_fsynced_is_gone_after_a_crash() {
    let m = Mounted::new();
    let data = pattern(10_000, 1);
    fs::write(m.path("a"), &data).unwrap();
    assert_eq!(
        fs::read(m.path("a")).unwrap(),
        data,
        "reads see what was written"
    );
    assert_eq!(fs::metadata(m.path("a")).unwrap().len(), 10_000);
    assert!(m.durable("a").is_empty(), "closing made nothing durable");

    let lost = m.fs.crash();
    assert_eq!(lost.files, 1);
    assert_eq!(lost.bytes, 3 * 4096);
    // The directory entry was durable at once; the data never was.
    assert_eq!(fs::read(m.path("a")).unwrap(), b"");
}

#[test]
fn fsynced_data_survives_a_crash_and_later_writes_do_not() {
    let m = Mounted::new();
    let first = pattern(5000, 2);
    let mut file = File::create(m.path("a")).unwrap();
    file.write_all(&first).unwrap();
    file.sync_all().unwrap();
    assert_eq!(m.durable("a"), first);
    file.write_all(&pattern(3000, 3)).unwrap();
    file.write_all_at(b"overwritten", 10).unwrap();
    drop(file);

    m.fs.crash();
    assert_eq!(fs::read(m.path("a")).unwrap(), first);
}

#[test]
fn fdatasync_through_another_descriptor_makes_the_file_durable() {
    let m = Mounted::new();
    let data = pattern(9000, 4);
    let mut writer = File::create(m.path("a")).unwrap();
    writer.write_all(&data).unwrap();
    let other = File::open(m.path("a")).unwrap();
    other.sync_data().unwrap();
    drop((writer, other));

    m.fs.crash();
    assert_eq!(fs::read(m.path("a")).unwrap(), data);
    assert_eq!(m.fs.stats().fdatasyncs, 1);
}

#[test]
fn a_file_grown_then_fsynced_keeps_its_size_after_a_crash() {
    let m = Mounted::new();
    let file = File::create(m.path("a")).unwrap();
    file.set_len(100_000).unwrap();
    file.write_all_at(b"end", 200_000).unwrap();
    file.sync_all().unwrap();
    drop(file);

    m.fs.crash();
    let after = fs::read(m.path("a")).unwrap();
    assert_eq!(after.len(), 200_003);
    assert!(after[..200_000].iter().all(|&b| b == 0));
    assert_eq!(&after[200_000..], b"end");
}

#[test]
fn a_truncation_not_fsynced_is_undone_at_a_crash() {
    let m = Mounted::new();
    let data = pattern(3 * 4096 + 100, 5);
    let mut file = File::create(m.path("a")).unwrap();
    file.write_all(&data).unwrap();
    file.sync_all().unwrap();
    file.set_len(100).unwrap();
    assert_eq!(fs::read(m.path("a")).unwrap(), &data[..100]);
    // Growing again shows zeros, not the truncated bytes.
    file.set_len(5000).unwrap();
    let grown = fs::read(m.path("a")).unwrap();
    assert_eq!(&grown[..100], &data[..100]);
    assert!(grown[100..].iter().all(|&b| b == 0));
    drop(file);
    // O_TRUNC is a truncation too.
    File::create(m.path("a")).unwrap();
    assert_eq!(fs::metadata(m.path("a")).unwrap().len(), 0);

    m.fs.crash();
    assert_eq!(fs::read(m.path("a")).unwrap(), data);
}

#[test]
fn a_truncation_that_was_fsynced_survives_a_crash() {
    let m = Mounted::new();
    let data = pattern(3 * 4096, 6);
    let mut file = File::create(m.path("a")).unwrap();
    file.write_all(&data).unwrap();
    file.sync_all().unwrap();
    file.set_len(4000).unwrap();
    file.write_all_at(b"tail", 6000).unwrap();
    file.sync_data().unwrap();
    drop(file);

    m.fs.crash();
    let after = fs::read(m.path("a")).unwrap();
    assert_eq!(after.len(), 6004);
    assert_eq!(&after[..4000], &data[..4000]);
    assert!(
        after[4000..6000].iter().all(|&b| b == 0),
        "cut bytes stay cut"
    );
    assert_eq!(&after[6000..], b"tail");
}

#[test]
fn writes_beyond_the_capacity_fail_with_enospc_and_work_again_when_it_is_raised() {
    let m = Mounted::new();
    m.fs.set_capacity(Some(64 * 1024));
    let mut file = File::create(m.path("a")).unwrap();
    file.write_all(&pattern(60 * 1024, 7)).unwrap();
    let full = file.write_all(&pattern(8 * 1024, 8)).unwrap_err();
    assert_eq!(full.raw_os_error(), Some(libc::ENOSPC), "{full}");
    let other = File::create(m.path("b")).unwrap();
    let grow = other.set_len(8 * 1024).unwrap_err();
    assert_eq!(grow.raw_os_error(), Some(libc::ENOSPC), "{grow}");
    assert_eq!(m.fs.stats().refused_for_space, 2);

    m.fs.set_capacity(Some(1024 * 1024));
    file.write_all_at(&pattern(8 * 1024, 8), 60 * 1024).unwrap();
    other.set_len(8 * 1024).unwrap();
    assert_eq!(fs::metadata(m.path("a")).unwrap().len(), 68 * 1024);
}

#[test]
fn a_rename_keeps_the_pending_data_with_the_file() {
    let m = Mounted::new();
    let data = pattern(7000, 9);
    let old = pattern(100, 10);
    let mut target = File::create(m.path("conf")).unwrap();
    target.write_all(&old).unwrap();
    target.sync_all().unwrap();
    drop(target);
    fs::write(m.path("conf.tmp"), &data).unwrap();
    fs::rename(m.path("conf.tmp"), m.path("conf")).unwrap();
    assert_eq!(fs::read(m.path("conf")).unwrap(), data);
    File::open(m.path("conf")).unwrap().sync_all().unwrap();
    fs::write(m.path("other.tmp"), b"never synced").unwrap();
    fs::rename(m.path("other.tmp"), m.path("other")).unwrap();

    m.fs.crash();
    assert_eq!(fs::read(m.path("conf")).unwrap(), data);
    assert_eq!(fs::read(m.path("other")).unwrap(), b"");
}

#[test]
fn an_unlinked_file_still_open_keeps_its_data_until_it_is_closed() {
    let m = Mounted::new();
    let data = pattern(5000, 11);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(m.path("journal"))
        .unwrap();
    file.write_all(&data).unwrap();
    fs::remove_file(m.path("journal")).unwrap();
    let mut back = vec![0; data.len()];
    file.read_exact_at(&mut back, 0).unwrap();
    assert_eq!(back, data);
    assert_eq!(m.fs.stats().pending_files, 1);
    drop(file);
    // The kernel releases the handle asynchronously after close.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while m.fs.stats().pending_files != 0 {
        assert!(std::time::Instant::now() < deadline, "{:?}", m.fs.stats());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn fsync_fails_with_eio_when_told_to_and_makes_nothing_durable() {
    let m = Mounted::new();
    let mut file = File::create(m.path("a")).unwrap();
    file.write_all(b"first").unwrap();
    m.fs.set_fail_fsync(true);
    let failed = file.sync_all().unwrap_err();
    assert_eq!(failed.raw_os_error(), Some(libc::EIO), "{failed}");
    assert!(m.durable("a").is_empty());
    m.fs.set_fail_fsync(false);
    file.write_all(b" second").unwrap();
    file.sync_all().unwrap();
    drop(file);
    let stats = m.fs.stats();
    assert_eq!((stats.fsyncs, stats.failed_fsyncs), (2, 1));
    assert_eq!(stats.pending_bytes, 0);
    m.fs.crash();
    assert_eq!(fs::read(m.path("a")).unwrap(), b"first second");
}

#[test]
fn handles_opened_before_a_crash_no_longer_work_after_it() {
    let m = Mounted::new();
    let mut file = File::create(m.path("a")).unwrap();
    file.write_all(b"before").unwrap();
    assert!(m.fs.stats().pending_bytes > 0);
    m.fs.crash();
    assert_eq!(m.fs.stats().crashes, 1);
    let stale = file.write_all(b"after").unwrap_err();
    assert_eq!(stale.raw_os_error(), Some(libc::EBADF), "{stale}");
    assert_eq!(
        m.fs.stats().pending_bytes,
        0,
        "nothing of the old boot came back"
    );
    let reopened = open_rw(&m.path("a"));
    reopened.write_all_at(b"new boot", 0).unwrap();
    assert_eq!(fs::read(m.path("a")).unwrap(), b"new boot");
}

#[test]
fn directories_and_their_entries_are_durable_at_once() {
    let m = Mounted::new();
    fs::create_dir_all(m.path("store/blobs")).unwrap();
    let mut file = File::create(m.path("store/blobs/x")).unwrap();
    file.write_all(b"x").unwrap();
    file.sync_all().unwrap();
    drop(file);
    std::os::unix::fs::symlink("blobs/x", m.path("store/link")).unwrap();
    fs::hard_link(m.path("store/blobs/x"), m.path("store/x2")).unwrap();
    let dir = File::open(m.path("store")).unwrap();
    dir.sync_all().unwrap();
    assert_eq!(m.fs.stats().fsyncdirs, 1);

    m.fs.crash();
    let mut names: Vec<String> = fs::read_dir(m.path("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["blobs", "link", "x2"]);
    assert_eq!(fs::read(m.path("store/link")).unwrap(), b"x");
    assert_eq!(fs::read(m.path("store/x2")).unwrap(), b"x");
    fs::remove_file(m.path("store/x2")).unwrap();
    fs::remove_file(m.path("store/link")).unwrap();
    fs::remove_file(m.path("store/blobs/x")).unwrap();
    fs::remove_dir(m.path("store/blobs")).unwrap();
    assert!(fs::read_dir(m.path("store")).unwrap().next().is_none());
}

#[test]
fn dropping_the_mount_while_a_file_is_open_does_not_hang() {
    let m = Mounted::new();
    let mountpoint = m.fs.mountpoint().to_owned();
    let file = File::create(m.path("held")).unwrap();
    let Mounted { fs, _dir: dir, .. } = m;
    drop(fs);
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(&format!(" {} ", mountpoint.display())),
        "the mount is detached: {mounts}"
    );
    drop(file);
    drop(dir);
}
