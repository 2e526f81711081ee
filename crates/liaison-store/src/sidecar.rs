//! The log head record: a small file beside the database that says how many log entries the store
//! held and their root, written (atomically and fsynced) after the commits that made them
//! durable. It is the independent witness that lets a store opened after damage, a lost write or
//! a restore from an old copy notice that entries are missing instead of starting without them.
//!
//! Format (text, one field per line):
//!
//! ```text
//! liaison store log head v1
//! size 1234
//! root 5f3c…(64 hex digits)
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use tracing::warn;

use crate::{LogHead, Result, StoreError};

/// The file name, in the store's directory.
pub const FILE_NAME: &str = "log-head";
const MAGIC: &str = "liaison store log head v1";

/// Writes the newest log head in the background, so that no commit waits for it.
pub(crate) struct Sidecar {
    path: PathBuf,
    pending: Mutex<(Option<LogHead>, bool)>,
    wake: Condvar,
    /// Serialises file writes between the background thread and [`Sidecar::write_now`].
    file: Mutex<()>,
}

impl Sidecar {
    /// Starts the background writer for the record in `dir`.
    pub fn start(dir: &Path) -> std::io::Result<Arc<Self>> {
        let sidecar = Arc::new(Self {
            path: dir.join(FILE_NAME),
            pending: Mutex::new((None, false)),
            wake: Condvar::new(),
            file: Mutex::new(()),
        });
        let worker = sidecar.clone();
        std::thread::Builder::new()
            .name("liaison-store-head".into())
            .spawn(move || worker.run())?;
        Ok(sidecar)
    }

    /// Asks for `head` to be recorded; a newer call supersedes one not yet written.
    pub fn update(&self, head: LogHead) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.0 = Some(head);
        self.wake.notify_one();
    }

    /// Records `head` now and stops the background writer.
    pub fn write_now(&self, head: LogHead) -> Result<()> {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            *pending = (None, true);
            self.wake.notify_one();
        }
        self.write(head).map_err(|e| {
            StoreError::Unavailable(format!("cannot write {}: {e}", self.path.display()))
        })
    }

    fn run(&self) {
        loop {
            let head = {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if pending.1 {
                        return;
                    }
                    if let Some(head) = pending.0.take() {
                        break head;
                    }
                    pending = self.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
                }
            };
            if let Err(e) = self.write(head) {
                warn!(path = %self.path.display(), error = %e, "cannot record the log head");
            }
        }
    }

    fn write(&self, head: LogHead) -> std::io::Result<()> {
        let _guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        write_file(&self.path, head)
    }
}

fn render(head: LogHead) -> String {
    format!(
        "{MAGIC}\nsize {}\nroot {}\n",
        head.size,
        hex::encode(head.root)
    )
}

/// Reads the record in `dir`: `None` if there is none.
pub(crate) fn read(dir: &Path) -> Result<Option<LogHead>> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Damaged(vec![format!(
                "cannot read {}: {e}",
                path.display()
            )]));
        }
    };
    parse(&text).map(Some).ok_or_else(|| {
        StoreError::Damaged(vec![format!(
            "{} is not a log head record (expected \"{MAGIC}\", a size and a root)",
            path.display()
        )])
    })
}

fn parse(text: &str) -> Option<LogHead> {
    let mut lines = text.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let size = lines.next()?.strip_prefix("size ")?.parse().ok()?;
    let root = hex::decode(lines.next()?.strip_prefix("root ")?).ok()?;
    Some(LogHead {
        size,
        root: root.try_into().ok()?,
    })
}

/// Writes the record in `dir` at once (for a new or restored store).
pub(crate) fn write_once(dir: &Path, head: LogHead) -> std::io::Result<()> {
    write_file(&dir.join(FILE_NAME), head)
}

/// Write to a temporary file, fsync, rename over the record, fsync the directory.
fn write_file(path: &Path, head: LogHead) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&tmp)?;
    file.write_all(render(head).as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written_and_anything_else_is_refused() {
        let head = LogHead {
            size: 42,
            root: [7; 32],
        };
        assert_eq!(parse(&render(head)), Some(head));
        assert_eq!(parse("liaison store log head v1\nsize x\nroot 00\n"), None);
        assert_eq!(parse(""), None);
    }
}
