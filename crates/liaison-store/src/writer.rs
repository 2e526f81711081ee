//! The store's one writer: a thread that owns the write connection and commits the writes that
//! wait for it together, in one transaction and so with one fsync (a group commit). Each write
//! runs in a savepoint of its own, so one refused write does not undo the others; a storage
//! failure (a full disk, an I/O error) fails the whole group and leaves nothing of it behind.
//! A caller hears of its write only after the commit is on disk.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;
use tracing::{error, info};

use crate::log::read_log_head;
use crate::sidecar::Sidecar;
use crate::{LogHead, Result, StorageHealth, StoreError};

/// How many writes one transaction takes at most.
const MAX_GROUP: usize = 512;

/// One write waiting for the writer.
pub(crate) trait Job: Send {
    /// Runs the write inside the group's transaction.
    fn run(&mut self, conn: &Connection) -> Ran;
    /// Tells the caller how it ended, once the group is committed (or failed).
    fn finish(self: Box<Self>, commit: std::result::Result<(), String>);
}

/// How one write went inside its savepoint.
pub(crate) enum Ran {
    Done,
    /// Refused on its own grounds (e.g. an unknown id): only this write is undone.
    Refused,
    /// Storage failed under it: the whole group is undone.
    StorageFailed(String),
}

struct Write<T, F> {
    work: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Write<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> Ran {
        let Some(work) = self.work.take() else {
            return Ran::Done;
        };
        let result = work(conn);
        let ran = match &result {
            Ok(_) => Ran::Done,
            Err(e) if e.is_storage_failure() => Ran::StorageFailed(e.to_string()),
            Err(_) => Ran::Refused,
        };
        self.result = Some(result);
        ran
    }

    fn finish(self: Box<Self>, commit: std::result::Result<(), String>) {
        let outcome = match (commit, self.result) {
            // A write refused on its own keeps its reason even if the group failed too.
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Err(why), _) => Err(StoreError::Unavailable(why)),
            (Ok(()), None) => Err(StoreError::Unavailable("the write did not run".into())),
        };
        // The caller may have stopped waiting (its request was cancelled): nothing to tell.
        let _ = self.reply.send(outcome);
    }
}

pub(crate) enum Message {
    Write(Box<dyn Job>),
    Close(oneshot::Sender<Result<()>>),
}

/// The handle callers submit writes through.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Message>,
    pub health: Arc<Mutex<StorageHealth>>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn start(conn: Connection, sidecar: Arc<Sidecar>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let health = Arc::new(Mutex::new(StorageHealth::default()));
        let shared = health.clone();
        std::thread::Builder::new()
            .name("liaison-store-writer".into())
            .spawn(move || run(conn, rx, &shared, &sidecar))?;
        Ok(Self { tx, health })
    }

    /// Runs `work` in the next group commit; returns its result once the group is on disk.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Write {
            work: Some(work),
            result: None,
            reply,
        };
        self.tx
            .send(Message::Write(Box::new(job)))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops the writer after the writes already submitted; reports whether the last write of
    /// the store's state (the log head record) reached the disk.
    pub async fn close(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Close(reply))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(
    conn: Connection,
    rx: mpsc::Receiver<Message>,
    health: &Mutex<StorageHealth>,
    sidecar: &Sidecar,
) {
    let mut last_head = read_log_head(&conn).ok();
    loop {
        let Ok(first) = rx.recv() else {
            // Every handle is gone: the store was dropped without `close`.
            let _ = finish(&conn, sidecar);
            return;
        };
        let mut group = Vec::new();
        let mut close = None;
        match first {
            Message::Write(job) => group.push(job),
            Message::Close(reply) => close = Some(reply),
        }
        while close.is_none() && group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Message::Write(job)) => group.push(job),
                Ok(Message::Close(reply)) => close = Some(reply),
                Err(_) => break,
            }
        }
        if !group.is_empty() {
            let outcome = commit_group(&conn, &mut group);
            note_health(health, &outcome);
            if outcome.is_ok() {
                let head = read_log_head(&conn).ok();
                if head != last_head {
                    if let Some(head) = head {
                        sidecar.update(head);
                    }
                    last_head = head;
                }
            }
            for job in group {
                job.finish(outcome.clone());
            }
        }
        if let Some(reply) = close {
            let _ = reply.send(finish(&conn, sidecar));
            return;
        }
    }
}

/// The store's last words on a clean stop: the WAL folded into the database file and the
/// record of the log head written.
fn finish(conn: &Connection, sidecar: &Sidecar) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let head: LogHead = read_log_head(conn)?;
    sidecar.write_now(head)
}

fn commit_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> std::result::Result<(), String> {
    let failed = |why: String| {
        // Nothing of the group may stay; SQLite may have rolled back already.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        Err(why)
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return failed(e.to_string());
    }
    for job in group.iter_mut() {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            return failed(e.to_string());
        }
        let ran = job.run(conn);
        if conn.is_autocommit() {
            return failed("the transaction was rolled back by a storage error".into());
        }
        let end = match ran {
            Ran::Done => conn.execute_batch("RELEASE job"),
            Ran::Refused => conn.execute_batch("ROLLBACK TO job; RELEASE job"),
            Ran::StorageFailed(why) => return failed(why),
        };
        if let Err(e) = end {
            return failed(e.to_string());
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => Ok(()),
        Err(e) => failed(e.to_string()),
    }
}

fn note_health(health: &Mutex<StorageHealth>, outcome: &std::result::Result<(), String>) {
    let mut health = health.lock().unwrap_or_else(|p| p.into_inner());
    match outcome {
        Ok(()) => {
            health.commits += 1;
            if let Some(was) = health.failing.take() {
                info!(previous_error = %was, "storage works again: writes are committed");
            }
        }
        Err(e) => {
            health.failed_commits += 1;
            if health.failing.is_none() {
                error!(error = %e, "storage is failing: writes are refused until it works again");
            }
            health.failing = Some(e.clone());
        }
    }
}
