//! The source log, read on a thread of its own (a blocking reader: it
//! sleeps on the log's futex) and handed to the pusher in batches.

use crate::record::Meta;
use bytes::Bytes;
use ringcore::log::{From, Reader};
use ringcore::Error as LogError;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc::Sender;

/// A record copied out of the log, ready to publish.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) meta: Meta,
    pub(crate) payload: Bytes,
}

/// What the reading thread sends.
#[derive(Debug)]
pub(crate) enum Feed {
    /// The next records, in index order.
    Records(Vec<Record>),
    /// The writer closed the log and every record was sent (only when
    /// asked to stop there).
    End,
}

/// How long the thread sleeps for a record before it looks whether the
/// pusher still listens.
const POLL: Duration = Duration::from_millis(50);

/// Starts a thread reading the log at `path` from `from`, sending batches of
/// at most `batch` records stamped with `log_id` to `tx`. It ends when `tx`
/// is closed (the pusher starts over or stops), on a read error (returned),
/// or, with `stop_when_closed`, after sending [`Feed::End`] once the writer
/// closed the log. A writer that died or closed the log is waited for: a
/// new one may reopen it.
pub(crate) fn spawn(
    path: PathBuf,
    from: From,
    log_id: u64,
    batch: usize,
    stop_when_closed: bool,
    tx: Sender<Feed>,
) -> std::io::Result<JoinHandle<Result<(), LogError>>> {
    std::thread::Builder::new()
        .name("bridge-source".into())
        .spawn(move || {
            let mut r = Reader::open(&path, from)?;
            loop {
                let records: Vec<Record> = r
                    .try_read_batch(batch)?
                    .map(|m| Record {
                        meta: Meta {
                            log_id,
                            index: m.index,
                            msg_type: m.msg_type,
                            timestamp: m.timestamp,
                        },
                        payload: Bytes::copy_from_slice(m.payload),
                    })
                    .collect();
                if !records.is_empty() {
                    if tx.blocking_send(Feed::Records(records)).is_err() {
                        return Ok(());
                    }
                    continue;
                }
                if tx.is_closed() {
                    return Ok(());
                }
                match r.wait(Some(POLL)) {
                    Ok(()) | Err(LogError::TimedOut) => {}
                    Err(LogError::Closed) if stop_when_closed => {
                        // Nothing is left: `wait` looks again after it sees
                        // the close.
                        let _ = tx.blocking_send(Feed::End);
                        return Ok(());
                    }
                    // Closed or its writer died: wait for a new writer.
                    Err(LogError::Closed | LogError::Disconnected) => std::thread::sleep(POLL),
                    Err(e) => return Err(e),
                }
            }
        })
}
