//! Durable acknowledgements by group commit: the puller appends a batch to
//! the mirror and hands its last message here; a task of its own forces
//! the mirror's files to storage (`fdatasync`, which takes the pages
//! written through the writer's shared mapping too) and only then
//! acknowledges. While it syncs, the puller goes on appending, and the
//! next sync covers every batch handed over meanwhile with one
//! acknowledgement (the consumer acknowledges "all" up to a message).

use crate::error::{Error, Fault};
use async_nats::jetstream::Message;
use ringcore::log::file_path;
use std::collections::BTreeMap;
use std::fs::File;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::task::JoinHandle;

/// A batch appended to the mirror: the files its records lie in, and the
/// message that acknowledges it with all before it.
struct Durable {
    files: RangeInclusive<u64>,
    ack: Message,
}

/// The syncing and acknowledging task of one run of the consumer.
pub(crate) struct Flusher {
    tx: UnboundedSender<Durable>,
    task: JoinHandle<Result<(), Fault>>,
}

impl Flusher {
    /// Starts the task for the mirror at `base`.
    pub(crate) fn start(base: PathBuf) -> Flusher {
        let (tx, mut rx) = unbounded_channel::<Durable>();
        let task = tokio::spawn(async move {
            let mut open = Files::new(base);
            while let Some(first) = rx.recv().await {
                let (mut lo, mut hi) = (*first.files.start(), *first.files.end());
                let mut last = first.ack;
                while let Ok(more) = rx.try_recv() {
                    lo = lo.min(*more.files.start());
                    hi = hi.max(*more.files.end());
                    last = more.ack;
                }
                open = tokio::task::spawn_blocking(move || open.sync(lo..=hi).map(|()| open))
                    .await
                    .map_err(|e| Fault::Fatal(join_error(e)))?
                    .map_err(|e| Fault::Fatal(Error::Log(e.into())))?;
                // A lost acknowledgement only brings these records again,
                // and they are skipped then.
                if let Err(e) = last.ack().await {
                    eprintln!("pull: acknowledging: {e}");
                }
            }
            Ok(())
        });
        Flusher { tx, task }
    }

    /// Hands over a batch whose records lie in files `files` of the mirror,
    /// acknowledged by `ack` once they are on storage. `false` when the
    /// task has stopped (its error comes from [`finish`](Self::finish)).
    pub(crate) fn submit(&self, files: RangeInclusive<u64>, ack: Message) -> bool {
        self.tx.send(Durable { files, ack }).is_ok()
    }

    /// Syncs and acknowledges everything handed over, then stops.
    pub(crate) async fn finish(self) -> Result<(), Fault> {
        drop(self.tx);
        self.task.await.map_err(|e| Fault::Fatal(join_error(e)))?
    }
}

/// The error for a syncing task that panicked.
fn join_error(e: tokio::task::JoinError) -> Error {
    Error::Log(std::io::Error::other(format!("syncing the mirror: {e}")).into())
}

/// Open files of the mirror by sequence number, and the directory (synced
/// once for each file seen first, so a file the writer made stays).
struct Files {
    base: PathBuf,
    files: BTreeMap<u64, File>,
}

impl Files {
    fn new(base: PathBuf) -> Files {
        Files {
            base,
            files: BTreeMap::new(),
        }
    }

    fn sync(&mut self, seqs: RangeInclusive<u64>) -> std::io::Result<()> {
        let lo = *seqs.start();
        // Files before the range were synced for good when the range moved on.
        self.files.retain(|&seq, _| seq >= lo);
        for seq in seqs {
            if !self.files.contains_key(&seq) {
                let path = file_path(&self.base, seq);
                match File::open(&path) {
                    Ok(f) => {
                        sync_dir(&path)?;
                        self.files.insert(seq, f);
                    }
                    // Deleted by the mirror's retention since: its records
                    // are gone by the user's choice.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            self.files[&seq].sync_data()?;
        }
        Ok(())
    }
}

/// Syncs the directory holding `path` (its entry for the file).
fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}
