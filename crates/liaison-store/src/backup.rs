//! Backup of a running store to one file, and restore of a stopped node's store from one.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::log::read_log_head;
use crate::{DB_FILE, LogHead, Result, Store, StoreError, check, open_error, sidecar};

impl Store {
    /// Copies the whole store, as of one moment, to `out` while the node runs (SQLite's online
    /// backup), fsyncs the copy and checks it. Returns the log head the copy holds.
    pub async fn backup(&self, out: &Path) -> Result<LogHead> {
        let store = self.clone();
        let out = out.to_owned();
        tokio::task::spawn_blocking(move || store.backup_blocking(&out))
            .await
            .map_err(|e| StoreError::Unavailable(format!("the backup task failed: {e}")))?
    }

    fn backup_blocking(&self, out: &Path) -> Result<LogHead> {
        if out.exists() {
            return Err(StoreError::Refused(format!(
                "{} exists already; name a new file",
                out.display()
            )));
        }
        let partial = out.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        {
            let source = self.reader()?;
            let mut copy = Connection::open(&partial)?;
            {
                let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
                backup.run_to_completion(256, std::time::Duration::ZERO, None)?;
            }
            // A backup is one file: no WAL beside it.
            let _: String = copy.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
            let problems = check::problems(&copy, None);
            if !problems.is_empty() {
                return Err(StoreError::Damaged(problems));
            }
        }
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, out)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        let copy = Connection::open_with_flags(out, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        read_log_head(&copy)
    }

    /// Replaces the store in `dir` (whose node must be stopped) with the backup at `backup`,
    /// after checking the backup. The replaced files are kept in `dir/replaced-<unix ms>/`.
    /// Returns the log head of the restored store.
    pub fn restore(dir: &Path, backup: &Path, now_ms: i64) -> Result<LogHead> {
        let copy = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| open_error(backup, e))?;
        if let Some(problem) = check::header_problem(backup) {
            return Err(StoreError::Damaged(vec![problem]));
        }
        let problems = check::problems(&copy, None);
        if !problems.is_empty() {
            return Err(StoreError::Damaged(problems));
        }
        let head = read_log_head(&copy)?;
        drop(copy);
        std::fs::create_dir_all(dir)?;
        let aside = dir.join(format!("replaced-{now_ms}"));
        std::fs::create_dir_all(&aside)?;
        for name in [
            DB_FILE.to_owned(),
            format!("{DB_FILE}-wal"),
            format!("{DB_FILE}-shm"),
            sidecar::FILE_NAME.to_owned(),
        ] {
            let from = dir.join(&name);
            if from.exists() {
                std::fs::rename(&from, aside.join(&name))?;
            }
        }
        let target = dir.join(DB_FILE);
        let partial = dir.join(format!("{DB_FILE}.partial"));
        std::fs::copy(backup, &partial)?;
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, &target)?;
        sidecar::write_once(dir, head)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(head)
    }
}
