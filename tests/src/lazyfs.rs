//! A FUSE file system that forgets whatever was not fsynced: a power cut for durability tests.
//!
//! [`LazyFs`] mounts a passthrough over a *backing* directory that always holds exactly the
//! durable state, in the spirit of LazyFS (Alves et al.). The changes to a file's data and size
//! that were not yet made durable live in this process's memory, per file (per backing inode), as
//! dirty 4 KiB pages plus the file's logical size and the lowest size it was truncated to since
//! its last sync:
//!
//! * write, truncate, `O_TRUNC` and `fallocate` change only that in-memory state;
//! * read and getattr see the in-memory state over the durable one (what a program sees from the
//!   page cache of a real kernel);
//! * `fsync(2)` and `fdatasync(2)` of a file, from any descriptor of it, write that file's pending
//!   pages and size into the backing file and sync it: from then on they survive a crash;
//! * nothing else makes data durable: not close (FUSE flush and release), not
//!   `sync_file_range(2)` (the kernel sends FUSE no request for it), not unmounting;
//! * [`LazyFs::crash`] discards everything not durable, as a power cut does.
//!
//! Directory operations (create, mkdir, unlink, rename, link, symlink) are applied to the backing
//! directory at once and so are durable without an fsync of the directory, as in LazyFS: a file
//! created and never fsynced survives a crash as an empty file, which is what ext4 or XFS leave
//! after a journal commit. Pending state belongs to the backing inode, so it follows a file
//! through renames, and a file unlinked while open keeps its pending state until its last handle
//! is released.
//!
//! Files are opened with `direct_io` and every attribute and entry is given a time-out of zero,
//! so the kernel's page cache hides nothing: whatever a program reads comes from this process.
//! The one exception is a file whose name ends in `-shm` (SQLite's shared-memory index in WAL
//! mode), which SQLite maps with `mmap(MAP_SHARED)`; such a file goes through the page cache
//! (write-through, dropped at every open) so that its mapping works. SQLite rebuilds that file
//! after a crash, so its durability does not matter.
//!
//! The file system runs in this process, on background threads, and is steered through the
//! methods of [`LazyFs`]. Mounting needs `/dev/fuse` and root (or the `fusermount3` helper).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{
    DirBuilderExt, DirEntryExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem,
    FopenFlags, Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, Request, TimeOrNow, WriteFlags,
};

/// The unit in which pending data is kept.
const PAGE: u64 = 4096;

/// Attributes and entries are never cached by the kernel.
const NO_CACHE: Duration = Duration::ZERO;

/// How many threads answer the kernel: the programs under test do I/O concurrently.
const THREADS: usize = 4;

/// A backing file's identity: device and inode number.
type Key = (u64, u64);

fn key_of(meta: &fs::Metadata) -> Key {
    (meta.dev(), meta.ino())
}

/// What [`LazyFs::crash`] threw away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discarded {
    /// Files that had changes not made durable.
    pub files: usize,
    /// Bytes of pending pages among them.
    pub bytes: u64,
}

/// Counters of the file system since it was mounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `fsync(2)` calls answered (made durable or failed on purpose).
    pub fsyncs: u64,
    /// `fdatasync(2)` calls answered.
    pub fdatasyncs: u64,
    /// fsyncs of directories (counted only: directory changes are durable at once).
    pub fsyncdirs: u64,
    /// fsyncs (of files or directories) answered with EIO by [`LazyFs::set_fail_fsync`].
    pub failed_fsyncs: u64,
    /// Writes and truncations refused with ENOSPC by [`LazyFs::set_capacity`].
    pub refused_for_space: u64,
    /// Power cuts so far.
    pub crashes: u64,
    /// Files with changes not yet durable.
    pub pending_files: usize,
    /// Bytes of pending pages.
    pub pending_bytes: u64,
}

/// The non-durable part of one file.
struct Pending {
    /// Our own descriptor on the backing file, for reads under the pages and for write-back.
    file: File,
    /// The logical size, as programs see it.
    size: u64,
    /// The lowest size since the last sync: backing bytes at or past it are no longer visible.
    low: u64,
    /// Page number → the page as programs see it.
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl Pending {
    fn new(file: File) -> io::Result<Self> {
        let size = file.metadata()?.len();
        Ok(Self {
            file,
            size,
            low: size,
            pages: BTreeMap::new(),
        })
    }

    fn pending_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    /// Bytes `[offset, offset + len)` of the file as it is without its dirty pages.
    fn base(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut out = vec![0; len];
        let end = (offset + len as u64).min(self.low).min(self.size);
        if end > offset {
            read_fully(&self.file, &mut out[..(end - offset) as usize], offset)?;
        }
        Ok(out)
    }

    fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let end = (offset + len as u64).min(self.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut out = self.base(offset, (end - offset) as usize)?;
        for (&page, data) in self.pages.range(offset / PAGE..=(end - 1) / PAGE) {
            let start = page * PAGE;
            let (from, to) = (offset.max(start), end.min(start + PAGE));
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&data[(from - start) as usize..(to - start) as usize]);
        }
        Ok(out)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let end = offset + data.len() as u64;
        for page in offset / PAGE..=(end - 1) / PAGE {
            let start = page * PAGE;
            if !self.pages.contains_key(&page) {
                let base = self.base(start, PAGE as usize)?;
                self.pages.insert(page, base.into_boxed_slice());
            }
            let buffer = self.pages.get_mut(&page).expect("just inserted");
            let (from, to) = (offset.max(start), end.min(start + PAGE));
            buffer[(from - start) as usize..(to - start) as usize]
                .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
        }
        self.size = self.size.max(end);
        Ok(())
    }

    fn truncate(&mut self, len: u64) {
        if len < self.size {
            self.pages.retain(|&page, _| page * PAGE < len);
            if let Some(buffer) = self.pages.get_mut(&(len / PAGE)) {
                buffer[(len % PAGE) as usize..].fill(0);
            }
            self.low = self.low.min(len);
        }
        self.size = len;
    }

    /// Writes the pending state into the backing file and syncs it.
    fn persist(&self, datasync: bool) -> io::Result<()> {
        if self.low < self.file.metadata()?.len() {
            self.file.set_len(self.low)?;
        }
        for (&page, data) in &self.pages {
            let start = page * PAGE;
            let n = PAGE.min(self.size.saturating_sub(start));
            if n > 0 {
                self.file.write_all_at(&data[..n as usize], start)?;
            }
        }
        if self.file.metadata()?.len() != self.size {
            self.file.set_len(self.size)?;
        }
        if datasync {
            self.file.sync_data()
        } else {
            self.file.sync_all()
        }
    }
}

fn read_fully(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => break,
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A file or directory the kernel knows by a node id.
struct Node {
    /// Its last known path in the backing directory.
    path: PathBuf,
    key: Key,
}

/// An open file of the current boot.
struct Handle {
    file: File,
    key: Key,
}

/// Everything the file system knows, behind one lock.
struct State {
    nodes: HashMap<u64, Node>,
    ids: HashMap<Key, u64>,
    next_node: u64,
    pending: HashMap<Key, Pending>,
    /// Handles of the current boot; a crash empties it, so that a late request on a handle of a
    /// killed process cannot bring old data into the new boot.
    handles: HashMap<u64, Handle>,
    dirs: HashMap<u64, Vec<(u64, FileType, OsString)>>,
    next_handle: u64,
    capacity: Option<u64>,
    fail_fsync: bool,
    stats: Stats,
}

type Outcome<T> = Result<T, Errno>;

fn errno(e: io::Error) -> Errno {
    Errno::from(e)
}

impl State {
    fn root(&self) -> &Path {
        &self.nodes[&INodeNo::ROOT.0].path
    }

    fn node(&self, ino: INodeNo) -> Outcome<&Node> {
        self.nodes.get(&ino.0).ok_or(Errno::ESTALE)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Outcome<PathBuf> {
        Ok(self.node(parent)?.path.join(name))
    }

    /// The node id of the backing file at `path` with metadata `meta`, made known if new.
    fn remember(&mut self, path: PathBuf, meta: &fs::Metadata) -> u64 {
        let key = key_of(meta);
        let id = match self.ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.next_node;
                self.next_node += 1;
                self.ids.insert(key, id);
                id
            }
        };
        self.nodes.insert(id, Node { path, key });
        id
    }

    fn handle(&self, fh: FileHandle) -> Outcome<&Handle> {
        self.handles.get(&fh.0).ok_or(Errno::EBADF)
    }

    fn new_handle(&mut self, file: File, key: Key) -> u64 {
        let fh = self.next_handle;
        self.next_handle += 1;
        self.handles.insert(fh, Handle { file, key });
        fh
    }

    /// The pending state of the file open as `fh`, made if there is none.
    fn pending_for_handle(&mut self, fh: FileHandle) -> Outcome<&mut Pending> {
        let handle = self.handles.get(&fh.0).ok_or(Errno::EBADF)?;
        match self.pending.entry(handle.key) {
            Entry::Occupied(entry) => Ok(entry.into_mut()),
            Entry::Vacant(entry) => {
                let file = handle.file.try_clone().map_err(errno)?;
                Ok(entry.insert(Pending::new(file).map_err(errno)?))
            }
        }
    }

    /// The pending state of the file known as `ino`, made (opening it by path) if there is none.
    fn pending_for_node(&mut self, ino: INodeNo) -> Outcome<&mut Pending> {
        let node = self.nodes.get(&ino.0).ok_or(Errno::ESTALE)?;
        match self.pending.entry(node.key) {
            Entry::Occupied(entry) => Ok(entry.into_mut()),
            Entry::Vacant(entry) => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&node.path)
                    .map_err(errno)?;
                if key_of(&file.metadata().map_err(errno)?) != node.key {
                    return Err(Errno::ESTALE);
                }
                Ok(entry.insert(Pending::new(file).map_err(errno)?))
            }
        }
    }

    /// The metadata of `ino`: through `fh` if given, else by path, else through its pending
    /// state or any open handle (a file unlinked while open).
    fn metadata(&self, ino: INodeNo, fh: Option<FileHandle>) -> Outcome<fs::Metadata> {
        if let Some(handle) = fh.and_then(|fh| self.handles.get(&fh.0)) {
            return handle.file.metadata().map_err(errno);
        }
        let node = self.node(ino)?;
        match fs::symlink_metadata(&node.path) {
            Ok(meta) if key_of(&meta) == node.key => return Ok(meta),
            Ok(_) => {}
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(errno(e)),
            Err(_) => {}
        }
        let open = self.pending.get(&node.key).map(|p| &p.file).or_else(|| {
            self.handles
                .values()
                .find(|h| h.key == node.key)
                .map(|h| &h.file)
        });
        match open {
            Some(file) => file.metadata().map_err(errno),
            None => Err(Errno::ENOENT),
        }
    }

    fn attr(&self, ino: u64, meta: &fs::Metadata) -> FileAttr {
        let kind = FileType::from_std(meta.file_type()).unwrap_or(FileType::RegularFile);
        let mut size = meta.len();
        let mut blocks = meta.blocks();
        if kind == FileType::RegularFile
            && let Some(pending) = self.pending.get(&key_of(meta))
        {
            size = pending.size;
            blocks = size.div_ceil(512);
        }
        let time = |secs: i64, nanos: i64| {
            let nanos = u32::try_from(nanos).unwrap_or(0);
            match u64::try_from(secs) {
                Ok(secs) => UNIX_EPOCH + Duration::new(secs, nanos),
                Err(_) => UNIX_EPOCH,
            }
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks,
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind,
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: PAGE as u32,
            flags: 0,
        }
    }

    /// Makes the entry at `path` known and returns its attributes.
    fn entry(&mut self, path: PathBuf) -> Outcome<FileAttr> {
        let meta = fs::symlink_metadata(&path).map_err(errno)?;
        let id = self.remember(path, &meta);
        Ok(self.attr(id, &meta))
    }

    /// The sum of the logical sizes of all files (what the simulated disk holds).
    fn used(&self) -> u64 {
        let mut seen = HashSet::new();
        let mut total = 0;
        let mut stack = vec![self.root().to_owned()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    stack.push(entry.path());
                } else if meta.is_file() && seen.insert(key_of(&meta)) {
                    total += self
                        .pending
                        .get(&key_of(&meta))
                        .map_or(meta.len(), |p| p.size);
                }
            }
        }
        // Files unlinked while open still take their space.
        total
            + self
                .pending
                .iter()
                .filter(|(key, _)| !seen.contains(key))
                .map(|(_, p)| p.size)
                .sum::<u64>()
    }

    /// Refuses with ENOSPC a change of a file from `old` to `new` bytes that would make the files
    /// outgrow the capacity.
    fn check_space(&mut self, old: u64, new: u64) -> Outcome<()> {
        let Some(capacity) = self.capacity else {
            return Ok(());
        };
        if new <= old {
            return Ok(());
        }
        if self.used().saturating_sub(old) + new > capacity {
            self.stats.refused_for_space += 1;
            return Err(Errno::ENOSPC);
        }
        Ok(())
    }

    /// Drops the pending state of `key` if nothing can reach it any more: it has no name and no
    /// open handle.
    fn forget_if_unreachable(&mut self, key: Key) {
        if self.handles.values().any(|h| h.key == key) {
            return;
        }
        if let Some(pending) = self.pending.get(&key)
            && pending.file.metadata().is_ok_and(|m| m.nlink() == 0)
        {
            self.pending.remove(&key);
        }
    }

    fn open(&mut self, path: &Path, key: Key, truncate: bool) -> Outcome<(u64, FopenFlags)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(errno)?;
        let opened = key_of(&file.metadata().map_err(errno)?);
        if opened != key {
            return Err(Errno::ESTALE);
        }
        let fh = self.new_handle(file, key);
        if truncate {
            self.pending_for_handle(FileHandle(fh))?.truncate(0);
        }
        Ok((fh, open_flags(path)))
    }

    fn set_times(
        &self,
        path: &Path,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> Outcome<()> {
        if atime.is_none() && mtime.is_none() {
            return Ok(());
        }
        let at = |t: TimeOrNow| match t {
            TimeOrNow::SpecificTime(t) => t,
            TimeOrNow::Now => SystemTime::now(),
        };
        let mut times = fs::FileTimes::new();
        if let Some(t) = atime {
            times = times.set_accessed(at(t));
        }
        if let Some(t) = mtime {
            times = times.set_modified(at(t));
        }
        let file = File::open(path).map_err(errno)?;
        file.set_times(times).map_err(errno)
    }

    fn rename(&mut self, from: &Path, to: &Path, flags: RenameFlags) -> Outcome<()> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(Errno::EINVAL);
        }
        let victim = fs::symlink_metadata(to).ok();
        if victim.is_some() && flags.contains(RenameFlags::RENAME_NOREPLACE) {
            return Err(Errno::EEXIST);
        }
        fs::rename(from, to).map_err(errno)?;
        if let Some(victim) = victim.filter(|v| !v.is_dir()) {
            self.forget_if_unreachable(key_of(&victim));
        }
        for node in self.nodes.values_mut() {
            if let Ok(rest) = node.path.strip_prefix(from) {
                node.path = if rest.as_os_str().is_empty() {
                    to.to_owned()
                } else {
                    to.join(rest)
                };
            }
        }
        Ok(())
    }

    fn fsync(&mut self, fh: FileHandle, datasync: bool) -> Outcome<()> {
        if datasync {
            self.stats.fdatasyncs += 1;
        } else {
            self.stats.fsyncs += 1;
        }
        if self.fail_fsync {
            self.stats.failed_fsyncs += 1;
            return Err(Errno::EIO);
        }
        let key = self.handle(fh)?.key;
        if let Some(pending) = self.pending.get(&key) {
            pending.persist(datasync).map_err(errno)?;
            self.pending.remove(&key);
        }
        Ok(())
    }

    fn discard(&mut self) -> Discarded {
        let discarded = Discarded {
            files: self.pending.len(),
            bytes: self.pending.values().map(Pending::pending_bytes).sum(),
        };
        self.pending.clear();
        self.handles.clear();
        self.dirs.clear();
        self.stats.crashes += 1;
        discarded
    }
}

/// Direct I/O for every file but SQLite's shared-memory file, which must support shared mmap.
fn open_flags(path: &Path) -> FopenFlags {
    if path.as_os_str().as_bytes().ends_with(b"-shm") {
        FopenFlags::empty()
    } else {
        FopenFlags::FOPEN_DIRECT_IO
    }
}

/// The FUSE side: every request takes the one lock.
struct LazyOps {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LazyOps {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn reply_entry(reply: ReplyEntry, outcome: Outcome<FileAttr>) {
    match outcome {
        Ok(attr) => reply.entry(&NO_CACHE, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn reply_empty(reply: ReplyEmpty, outcome: Outcome<()>) {
    match outcome {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for LazyOps {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut state = self.lock();
        let outcome = state.child(parent, name).and_then(|path| state.entry(path));
        reply_entry(reply, outcome);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let state = self.lock();
        match state.metadata(ino, fh) {
            Ok(meta) => reply.attr(&NO_CACHE, &state.attr(ino.0, &meta)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut state = self.lock();
        let outcome = (|| {
            let path = state.node(ino)?.path.clone();
            if let Some(mode) = mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(errno)?;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(&path, uid, gid).map_err(errno)?;
            }
            if let Some(size) = size {
                let known = fh.is_some_and(|fh| state.handles.contains_key(&fh.0));
                let pending = match fh {
                    Some(fh) if known => state.pending_for_handle(fh)?,
                    _ => state.pending_for_node(ino)?,
                };
                let old = pending.size;
                state.check_space(old, size)?;
                let pending = match fh {
                    Some(fh) if known => state.pending_for_handle(fh)?,
                    _ => state.pending_for_node(ino)?,
                };
                pending.truncate(size);
            }
            state.set_times(&path, atime, mtime)?;
            let meta = state.metadata(ino, fh)?;
            Ok(state.attr(ino.0, &meta))
        })();
        match outcome {
            Ok(attr) => reply.attr(&NO_CACHE, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let state = self.lock();
        match state
            .node(ino)
            .and_then(|n| fs::read_link(&n.path).map_err(errno))
        {
            Ok(target) => reply.data(target.as_os_str().as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let mut state = self.lock();
        let outcome = (|| {
            if mode & 0o170000 != 0o100000 {
                return Err(Errno::EPERM);
            }
            let path = state.child(parent, name)?;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode & 0o7777)
                .open(&path)
                .map_err(errno)?;
            state.entry(path)
        })();
        reply_entry(reply, outcome);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut state = self.lock();
        let outcome = (|| {
            let path = state.child(parent, name)?;
            fs::DirBuilder::new()
                .mode(mode & 0o7777)
                .create(&path)
                .map_err(errno)?;
            state.entry(path)
        })();
        reply_entry(reply, outcome);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut state = self.lock();
        let outcome = (|| {
            let path = state.child(parent, name)?;
            let meta = fs::symlink_metadata(&path).map_err(errno)?;
            fs::remove_file(&path).map_err(errno)?;
            state.forget_if_unreachable(key_of(&meta));
            Ok(())
        })();
        reply_empty(reply, outcome);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let state = self.lock();
        let outcome = state
            .child(parent, name)
            .and_then(|path| fs::remove_dir(path).map_err(errno));
        reply_empty(reply, outcome);
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let mut state = self.lock();
        let outcome = (|| {
            let path = state.child(parent, link_name)?;
            std::os::unix::fs::symlink(target, &path).map_err(errno)?;
            state.entry(path)
        })();
        reply_entry(reply, outcome);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut state = self.lock();
        let outcome = (|| {
            let from = state.child(parent, name)?;
            let to = state.child(newparent, newname)?;
            state.rename(&from, &to, flags)
        })();
        reply_empty(reply, outcome);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let state = self.lock();
        let outcome = (|| {
            let from = state.node(ino)?.path.clone();
            let to = state.child(newparent, newname)?;
            fs::hard_link(&from, &to).map_err(errno)?;
            let meta = fs::symlink_metadata(&to).map_err(errno)?;
            // The node keeps its first name; the kernel knows the new one by the same id.
            Ok(state.attr(ino.0, &meta))
        })();
        reply_entry(reply, outcome);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut state = self.lock();
        let outcome = (|| {
            let node = state.node(ino)?;
            let (path, key) = (node.path.clone(), node.key);
            state.open(&path, key, flags.0 & libc::O_TRUNC != 0)
        })();
        match outcome {
            Ok((fh, flags)) => reply.opened(FileHandle(fh), flags),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let state = self.lock();
        let outcome = (|| {
            let handle = state.handle(fh)?;
            match state.pending.get(&handle.key) {
                Some(pending) => pending.read(offset, size as usize).map_err(errno),
                None => {
                    let mut buf = vec![0; size as usize];
                    let mut filled = 0;
                    while filled < buf.len() {
                        match handle
                            .file
                            .read_at(&mut buf[filled..], offset + filled as u64)
                        {
                            Ok(0) => break,
                            Ok(n) => filled += n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(errno(e)),
                        }
                    }
                    buf.truncate(filled);
                    Ok(buf)
                }
            }
        })();
        match outcome {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut state = self.lock();
        let outcome = (|| {
            let old = state.pending_for_handle(fh)?.size;
            state.check_space(old, old.max(offset + data.len() as u64))?;
            state
                .pending_for_handle(fh)?
                .write(offset, data)
                .map_err(errno)
        })();
        match outcome {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) is not a durability point.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.lock();
        // A handle of an earlier boot is already gone.
        if let Some(handle) = state.handles.remove(&fh.0) {
            state.forget_if_unreachable(handle.key);
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let outcome = self.lock().fsync(fh, datasync);
        reply_empty(reply, outcome);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut state = self.lock();
        let outcome = (|| {
            let path = state.node(ino)?.path.clone();
            let mut entries = vec![
                (ino.0, FileType::Directory, OsString::from(".")),
                (ino.0, FileType::Directory, OsString::from("..")),
            ];
            for entry in fs::read_dir(&path).map_err(errno)? {
                let entry = entry.map_err(errno)?;
                let kind = entry
                    .file_type()
                    .ok()
                    .and_then(FileType::from_std)
                    .unwrap_or(FileType::RegularFile);
                entries.push((entry.ino(), kind, entry.file_name()));
            }
            let fh = state.next_handle;
            state.next_handle += 1;
            state.dirs.insert(fh, entries);
            Ok(fh)
        })();
        match outcome {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let state = self.lock();
        let Some(entries) = state.dirs.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.lock().dirs.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.lock();
        state.stats.fsyncdirs += 1;
        if state.fail_fsync {
            state.stats.failed_fsyncs += 1;
            reply.error(Errno::EIO);
        } else {
            reply.ok();
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let state = self.lock();
        let capacity = state.capacity.unwrap_or(1 << 40);
        let free = capacity.saturating_sub(state.used()) / PAGE;
        reply.statfs(
            capacity / PAGE,
            free,
            free,
            1 << 20,
            1 << 20,
            PAGE as u32,
            255,
            PAGE as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut state = self.lock();
        let outcome = (|| {
            let path = state.child(parent, name)?;
            let mut options = OpenOptions::new();
            options.read(true).write(true).mode(mode & 0o7777);
            if flags & libc::O_EXCL != 0 {
                options.create_new(true);
            } else {
                options.create(true);
            }
            let file = options.open(&path).map_err(errno)?;
            let meta = file.metadata().map_err(errno)?;
            let id = state.remember(path.clone(), &meta);
            let (fh, open_flags) = state.open(&path, key_of(&meta), flags & libc::O_TRUNC != 0)?;
            let meta = state.metadata(INodeNo(id), Some(FileHandle(fh)))?;
            Ok((state.attr(id, &meta), fh, open_flags))
        })();
        match outcome {
            Ok((attr, fh, flags)) => {
                reply.created(&NO_CACHE, &attr, Generation(0), FileHandle(fh), flags);
            }
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut state = self.lock();
        let outcome = (|| {
            if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            let old = state.pending_for_handle(fh)?.size;
            if mode & libc::FALLOC_FL_KEEP_SIZE != 0 || offset + length <= old {
                return Ok(());
            }
            state.check_space(old, offset + length)?;
            state.pending_for_handle(fh)?.truncate(offset + length);
            Ok(())
        })();
        reply_empty(reply, outcome);
    }
}

/// A mounted lazy file system. Dropping it unmounts it (lazily if a process still has files
/// open in it); nothing pending is written then, as after a power cut.
pub struct LazyFs {
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

impl std::fmt::Debug for LazyFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyFs")
            .field("mountpoint", &self.mountpoint)
            .finish_non_exhaustive()
    }
}

impl LazyFs {
    /// Mounts a lazy file system over `backing` at `mountpoint` (both directories, made if
    /// missing), served by background threads of this process.
    ///
    /// # Errors
    /// If the directories cannot be made, or the mount fails (it needs `/dev/fuse` and root, or
    /// the `fusermount3` helper); the error says which.
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<LazyFs> {
        fs::create_dir_all(backing)?;
        fs::create_dir_all(mountpoint)?;
        let backing = backing.canonicalize()?;
        let mountpoint = mountpoint.canonicalize()?;
        if !Path::new("/dev/fuse").exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "cannot mount the lazy file system: there is no /dev/fuse (load the fuse module, \
                 or give the container the device)",
            ));
        }
        let root = fs::metadata(&backing)?;
        let mut state = State {
            nodes: HashMap::new(),
            ids: HashMap::new(),
            next_node: INodeNo::ROOT.0 + 1,
            pending: HashMap::new(),
            handles: HashMap::new(),
            dirs: HashMap::new(),
            next_handle: 1,
            capacity: None,
            fail_fsync: false,
            stats: Stats::default(),
        };
        state.ids.insert(key_of(&root), INodeNo::ROOT.0);
        state.nodes.insert(
            INodeNo::ROOT.0,
            Node {
                path: backing.clone(),
                key: key_of(&root),
            },
        );
        let state = Arc::new(Mutex::new(state));
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("lazyfs".into()),
            MountOption::Subtype("lazyfs".into()),
            MountOption::NoAtime,
        ];
        config.n_threads = Some(THREADS);
        let ops = LazyOps {
            state: state.clone(),
        };
        let session = fuser::spawn_mount(ops, &mountpoint, &config).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot mount the lazy file system over {} at {} (it needs /dev/fuse and root, \
                     or the fusermount3 helper of the fuse3 package): {e}",
                    backing.display(),
                    mountpoint.display()
                ),
            )
        })?;
        Ok(LazyFs {
            state,
            session: Some(session),
            mountpoint,
        })
    }

    /// Where the file system is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Cuts the power: discards every change not made durable, and invalidates every open handle
    /// (the processes holding them are assumed dead, as they would be). Kill the processes using
    /// the file system, and wait for them to exit, first.
    pub fn crash(&self) -> Discarded {
        lock(&self.state).discard()
    }

    /// Sets the size of the simulated disk: a write, truncation or fallocate that would make the
    /// logical sizes of all files add up to more fails with ENOSPC. `None`: no limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        lock(&self.state).capacity = bytes;
    }

    /// Makes every fsync, fdatasync and directory fsync fail with EIO (making nothing durable)
    /// while `fail` is true.
    pub fn set_fail_fsync(&self, fail: bool) {
        lock(&self.state).fail_fsync = fail;
    }

    /// Counters so far, and what is pending now.
    pub fn stats(&self) -> Stats {
        let state = lock(&self.state);
        Stats {
            pending_files: state.pending.len(),
            pending_bytes: state.pending.values().map(Pending::pending_bytes).sum(),
            ..state.stats
        }
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        if let Some(session) = self.session.take()
            && session.umount_and_join().is_err()
        {
            // Busy: detach it now; the kernel ends the session once the last file is closed.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
    }
}
