//! `push`: follows a log and publishes every record to its stream.
//!
//! # Ids, chain and resume
//!
//! Each record becomes one message (see [`record`](crate::record)) whose
//! id is the log's identity and the record's index, so JetStream drops a
//! replay of a record it stored within its duplicate window. On top of
//! that every publish carries `Nats-Expected-Last-Sequence`: the sequence
//! the previous record got. The pusher knows it without waiting, as the
//! stream holds this log alone: after the stream's last sequence `S`, the
//! next records take `S + 1`, `S + 2`, ... So publishes are pipelined (up
//! to `max_in_flight` unacknowledged) and still chained: if one is lost
//! (a server restarting, a leader moving), every later one is refused,
//! and the stream never holds a gap or a record out of order.
//!
//! Acknowledgements are awaited in order. A failure (an error, a timeout,
//! an acknowledged sequence other than the one predicted) drops
//! everything in flight and starts over from what the stream says: its
//! last record's index (from the message's headers) and sequence. The
//! same happens when the pusher itself restarts after a crash; a record
//! that was in flight then is either in the stream (and not sent again)
//! or not (and sent again), never twice: a late replay is a duplicate id,
//! or refused by the chain once the window has passed.

use crate::error::{retry, Error, Fault, Result};
use crate::source::{self, Feed};
use crate::stream::{self, StreamSpec};
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::{Context, ContextBuilder};
use async_nats::{Client, Subject};
use ringcore::log::{From, Reader};
use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

/// What [`push`] does.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The log to follow.
    pub log: PathBuf,
    /// The stream to publish to (made if missing).
    pub stream: StreamSpec,
    /// Publishes awaiting their acknowledgement at most.
    pub max_in_flight: usize,
    /// The identity to publish under, for a log made before format
    /// version 3 (which has none); it must match the log's otherwise.
    pub log_id: Option<u64>,
    /// Return once the log's writer closed it and every record is
    /// acknowledged (otherwise wait for a writer to reopen it).
    pub stop_when_closed: bool,
}

/// What a [`push`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Records the stream stored from this run.
    pub published: u64,
    /// Records the stream had already (dropped as duplicates).
    pub duplicates: u64,
    /// Times the pusher started over from the stream's end.
    pub resyncs: u64,
    /// The index of the next record to publish.
    pub next_index: u64,
}

/// How long an acknowledgement may take before the pusher starts over.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Records read from the log at a time.
const BATCH: usize = 256;

/// A publish awaiting its acknowledgement.
struct InFlight {
    index: u64,
    /// The sequence the record must get (the chain).
    seq: u64,
    ack: Pin<Box<dyn Future<Output = std::result::Result<PublishAck, PublishError>> + Send>>,
}

/// Publishes the log of `cfg` to its stream until `shutdown` completes (or,
/// with `stop_when_closed`, until the log is closed and all of it is in
/// the stream). Server failures and restarts are waited out; what returns
/// an error is what waiting cannot fix (see [`Error`]).
pub async fn push(
    client: Client,
    cfg: &PushConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<PushStats> {
    tokio::pin!(shutdown);
    let js = ContextBuilder::new()
        .timeout(ACK_TIMEOUT)
        .ack_timeout(ACK_TIMEOUT)
        .max_ack_inflight(cfg.max_in_flight + BATCH)
        .backpressure_on_inflight(true)
        .build(client);
    let Some(log_id) = identity(cfg, &mut shutdown).await? else {
        return Ok(PushStats::default());
    };
    let mut stats = PushStats::default();
    let mut pause = Duration::from_millis(50);
    loop {
        let before = stats.published;
        match run(&js, cfg, log_id, &mut stats, &mut shutdown).await {
            Ok(()) => return Ok(stats),
            Err(Fault::Fatal(e)) => return Err(e),
            Err(Fault::Retry(why)) => {
                stats.resyncs += 1;
                if stats.published > before {
                    pause = Duration::from_millis(50);
                }
                eprintln!("push: {why}; starting over from the end of the stream");
                tokio::select! {
                    () = &mut shutdown => return Ok(stats),
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Waits for the log to exist and returns its identity (`None`: shut down
/// while waiting).
async fn identity(
    cfg: &PushConfig,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<u64>> {
    let found = loop {
        match Reader::open(&cfg.log, From::Start) {
            Ok(r) => break r.log_id(),
            Err(ringcore::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                tokio::select! {
                    () = shutdown.as_mut() => return Ok(None),
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    match (found, cfg.log_id) {
        (0, None) => Err(Error::Mismatch(format!(
            "{} was made before log format version 3 and has no identity: give it one (--log-id)",
            cfg.log.display()
        ))),
        (0, Some(id)) | (id, None) => Ok(Some(id)),
        (id, Some(given)) if id == given => Ok(Some(id)),
        (id, Some(given)) => Err(Error::Mismatch(format!(
            "{} is the log {id:016x}, not {given:016x}",
            cfg.log.display()
        ))),
    }
}

/// One run from the stream's end: `Ok` when asked to stop (or at the end
/// of a closed log), `Retry` to start over.
async fn run(
    js: &Context,
    cfg: &PushConfig,
    log_id: u64,
    stats: &mut PushStats,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
) -> std::result::Result<(), Fault> {
    let spec = &cfg.stream;
    let stream = stream::ensure(js, spec).await?;
    let tail = stream::tail(&stream, &spec.subject).await?;
    let from = match tail.last {
        Some(m) if m.log_id != log_id => {
            return Err(Fault::Fatal(Error::Mismatch(format!(
                "stream {} holds the log {:016x}, {} is the log {log_id:016x}",
                spec.name,
                m.log_id,
                cfg.log.display()
            ))))
        }
        Some(m) => From::Index(m.index.checked_add(1).ok_or_else(|| {
            Fault::Fatal(Error::Mismatch(format!(
                "stream {} ends with a record numbered {}: no log goes past it",
                spec.name, m.index
            )))
        })?),
        None => From::Start,
    };
    let start = match from {
        From::Index(i) => i,
        _ => 0,
    };
    stats.next_index = start;
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let mut reader = Some(
        source::spawn(
            cfg.log.clone(),
            from,
            log_id,
            BATCH,
            cfg.stop_when_closed,
            tx,
        )
        .map_err(|e| Fault::Fatal(Error::Log(e.into())))?,
    );
    let subject = Subject::from(spec.subject.as_str());
    let mut expect = tail.last_seq;
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut ended = false;
    loop {
        if ended && in_flight.is_empty() {
            return Ok(());
        }
        tokio::select! {
            biased;
            () = shutdown.as_mut() => {
                // Let what is in flight land (a restart sorts out the rest).
                let drain = async {
                    while let Some(f) = in_flight.pop_front() {
                        let ack = f.ack.await;
                        if settle(f.index, f.seq, ack, stats).is_err() {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(ACK_TIMEOUT, drain).await;
                return Ok(());
            }
            ack = async { (&mut in_flight.front_mut().expect("not empty").ack).await },
                if !in_flight.is_empty() => {
                let f = in_flight.pop_front().expect("not empty");
                settle(f.index, f.seq, ack, stats)?;
            }
            feed = rx.recv(), if !ended && in_flight.len() < cfg.max_in_flight => match feed {
                Some(Feed::Records(records)) => {
                    for r in records {
                        let index = r.meta.index;
                        let msg = PublishMessage::build()
                            .payload(r.payload)
                            .headers(r.meta.headers(Some(expect)));
                        let ack = js
                            .send_publish(subject.clone(), msg)
                            .await
                            .map_err(|e| publish_fault(e, index))?;
                        expect += 1;
                        in_flight.push_back(InFlight {
                            index,
                            seq: expect,
                            ack: ack.into_future(),
                        });
                    }
                }
                Some(Feed::End) => ended = true,
                None => {
                    let handle = reader.take().expect("joined once");
                    let joined = tokio::task::spawn_blocking(move || handle.join())
                        .await
                        .map_err(retry("log reader"))?;
                    return Err(match joined {
                        Ok(Ok(())) => Fault::Retry("the log reader stopped".into()),
                        Ok(Err(e)) => Fault::Fatal(source_error(e, cfg, start)),
                        Err(_) => Fault::Fatal(Error::Log(
                            std::io::Error::other("the log reading thread panicked").into(),
                        )),
                    });
                }
            },
        }
    }
}

/// Takes the acknowledgement of record `index`, which had to land at
/// sequence `seq`.
fn settle(
    index: u64,
    seq: u64,
    ack: std::result::Result<PublishAck, PublishError>,
    stats: &mut PushStats,
) -> std::result::Result<(), Fault> {
    let ack = ack.map_err(|e| publish_fault(e, index))?;
    if ack.sequence != seq {
        return Err(Fault::Retry(format!(
            "record {index} is at sequence {}, not {seq}",
            ack.sequence
        )));
    }
    if ack.duplicate {
        stats.duplicates += 1;
    } else {
        stats.published += 1;
    }
    stats.next_index = index.wrapping_add(1);
    Ok(())
}

/// What a failed publish of record `index` means.
fn publish_fault(e: PublishError, index: u64) -> Fault {
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded => Fault::Fatal(Error::Mismatch(format!(
            "record {index} with its headers is larger than the server takes (max_payload): {e}"
        ))),
        PublishErrorKind::WrongLastSequence => Fault::Retry(format!(
            "record {index} was refused as a publish before it did not land"
        )),
        _ => Fault::Retry(format!("record {index}: {e}")),
    }
}

/// The error for a log reader started at record `next`.
fn source_error(e: ringcore::Error, cfg: &PushConfig, next: u64) -> Error {
    let log = cfg.log.display();
    match e {
        ringcore::Error::FellBehind(m) => Error::Mismatch(format!(
            "{log}: records from {next} on were deleted by retention before they were pushed ({m})"
        )),
        ringcore::Error::InvalidArgument(m) => Error::Mismatch(format!(
            "stream {} holds records up to {}, more than {log} has ({m}): the log lost its last records, or is not the one the stream was made from",
            cfg.stream.name,
            next.saturating_sub(1)
        )),
        e => Error::Log(e),
    }
}
