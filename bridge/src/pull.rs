//! `pull`: rebuilds a log from its stream in a mirror log.
//!
//! # Consumer, acks and resume
//!
//! A durable pull consumer (acknowledgement policy "all") delivers the
//! stream in order. Each batch is appended to the mirror with the
//! records' own indices, types and timestamps; the batch's last message
//! is acknowledged (and with it all before) only once the mirror's files
//! are synced to storage, by a group-commit task that lets the next
//! batches be appended meanwhile (see `flusher`). A crash between the
//! sync and the acknowledgement gives those records again after a
//! restart: records below the mirror's next index are skipped, so
//! nothing is appended twice. Every acknowledgement is sent before the
//! consumer is ever made anew.
//!
//! The mirror is made from the first record it receives, with the
//! source's identity ([`WriterBuilder::log_id`]) and that record's index
//! ([`WriterBuilder::first_index`]); a missing mirror is rebuilt from the
//! stream's first record (the consumer is made anew). A mirror that has
//! records the consumer acknowledged long ago, or that lacks records the
//! consumer went past (the mirror was replaced), gets the consumer moved
//! to the stream sequence of its next index, found by bisection. Records
//! of another log are refused, never appended.

use crate::error::{retry, Error, Fault, Result};
use crate::flusher::Flusher;
use crate::record::Meta;
use crate::stream::{self, Place};
use async_nats::jetstream::consumer::pull::Config as PullConsumerConfig;
use async_nats::jetstream::consumer::{AckPolicy, Consumer, DeliverPolicy};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::{Context, ContextBuilder, ErrorCode};
use async_nats::Client;
use futures_util::{FutureExt, StreamExt};
use ringcore::log::{list_files, Writer, WriterBuilder};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

/// What [`pull`] does.
#[derive(Debug, Clone)]
pub struct PullConfig {
    /// The stream to read.
    pub stream: String,
    /// Its subject (default: the stream's one subject).
    pub subject: Option<String>,
    /// Name of the durable consumer: one per mirror.
    pub durable: String,
    /// The mirror log (made if missing, its directory too).
    pub mirror: PathBuf,
    /// Region size of a new mirror (default: the log's default).
    pub region_size: Option<u64>,
    /// File size of a new mirror.
    pub file_size: Option<u64>,
    /// MTU of a new mirror: at least the source's.
    pub mtu: Option<u32>,
    /// Files of the mirror to keep (default: all).
    pub retention: Option<u64>,
    /// Records appended, flushed and acknowledged together at most.
    pub batch: usize,
    /// Return once the mirror holds this index.
    pub until_index: Option<u64>,
}

/// What a [`pull`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullStats {
    /// Records appended to the mirror.
    pub appended: u64,
    /// Records received that the mirror had already.
    pub skipped: u64,
    /// Times the consumer was moved to the mirror's next index.
    pub repositioned: u64,
    /// The mirror's next index.
    pub next_index: u64,
}

/// How long the server waits for an acknowledgement before it delivers a
/// record again.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Rebuilds the stream of `cfg` in its mirror until `shutdown` completes
/// (or the mirror reaches `until_index`). Server failures and restarts are
/// waited out; what returns an error is what waiting cannot fix.
pub async fn pull(
    client: Client,
    cfg: &PullConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<PullStats> {
    tokio::pin!(shutdown);
    let js = ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .build(client);
    let mut mirror = open_mirror(cfg)?;
    let mut stats = PullStats {
        next_index: mirror.as_ref().map_or(0, Writer::next_index),
        ..Default::default()
    };
    let mut reposition = false;
    let mut pause = Duration::from_millis(50);
    loop {
        if done(cfg, &mirror) {
            return Ok(stats);
        }
        let before = stats.appended;
        match run(
            &js,
            cfg,
            &mut mirror,
            &mut stats,
            &mut reposition,
            &mut shutdown,
        )
        .await
        {
            Ok(()) => return Ok(stats),
            Err(Fault::Fatal(e)) => return Err(e),
            Err(Fault::Retry(why)) => {
                if stats.appended > before {
                    pause = Duration::from_millis(50);
                }
                eprintln!("pull: {why}; starting over");
                tokio::select! {
                    () = &mut shutdown => return Ok(stats),
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Whether the mirror holds `until_index`.
fn done(cfg: &PullConfig, mirror: &Option<Writer>) -> bool {
    match (cfg.until_index, mirror) {
        (Some(u), Some(w)) => w.next_index() > u,
        _ => false,
    }
}

/// The builder of the mirror with the configured sizes.
fn builder(cfg: &PullConfig) -> WriterBuilder {
    let mut b = WriterBuilder::new(&cfg.mirror);
    if let Some(r) = cfg.region_size {
        b = b.region_size(r);
    }
    if let Some(f) = cfg.file_size {
        b = b.file_roll_size(f);
    }
    if let Some(m) = cfg.mtu {
        b = b.mtu(m);
    }
    if let Some(k) = cfg.retention {
        b = b.retention(k);
    }
    b
}

/// The mirror's writer if the mirror exists (its directory is made).
fn open_mirror(cfg: &PullConfig) -> Result<Option<Writer>> {
    if let Some(dir) = cfg.mirror.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Log(e.into()))?;
    }
    if list_files(&cfg.mirror)?.is_empty() {
        return Ok(None);
    }
    Ok(Some(builder(cfg).build()?))
}

/// One run of the consumer: `Ok` when asked to stop (or done), `Retry` to
/// start over.
async fn run(
    js: &Context,
    cfg: &PullConfig,
    mirror: &mut Option<Writer>,
    stats: &mut PullStats,
    reposition: &mut bool,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
) -> std::result::Result<(), Fault> {
    let Some(stream) = stream::get(js, &cfg.stream).await? else {
        return Err(Fault::Retry(format!(
            "stream {} does not exist yet",
            cfg.stream
        )));
    };
    let subject = stream::only_subject(&stream, cfg.subject.as_deref())?;
    let tail = stream::tail(&stream, &subject).await?;
    if let (Some(w), Some(last)) = (mirror.as_ref(), tail.last) {
        if last.log_id != w.log_id() {
            return Err(Fault::Fatal(other_log(cfg, last.log_id, w.log_id())));
        }
    }
    let next = mirror.as_ref().map(Writer::next_index);
    let (consumer, moved) = prepare(&stream, cfg, &subject, next, tail, *reposition).await?;
    stats.repositioned += u64::from(moved);
    *reposition = false;
    let messages = consumer
        .stream()
        .max_messages_per_batch(cfg.batch)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(retry("pulling"))?;
    let flusher = Flusher::start(cfg.mirror.clone());
    let consumed = consume(cfg, messages, mirror, stats, reposition, shutdown, &flusher).await;
    // Every acknowledgement goes out before the consumer may be made anew.
    let flushed = flusher.finish().await;
    match (consumed, flushed) {
        (Err(Fault::Fatal(e)), _) | (_, Err(Fault::Fatal(e))) => Err(Fault::Fatal(e)),
        (consumed, Err(e)) => consumed.and(Err(e)),
        (consumed, Ok(())) => consumed,
    }
}

/// Takes batches from the consumer, appends them and hands them to the
/// flusher to acknowledge once durable.
async fn consume(
    cfg: &PullConfig,
    mut messages: async_nats::jetstream::consumer::pull::Stream,
    mirror: &mut Option<Writer>,
    stats: &mut PullStats,
    reposition: &mut bool,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
    flusher: &Flusher,
) -> std::result::Result<(), Fault> {
    loop {
        let first = tokio::select! {
            () = shutdown.as_mut() => return Ok(()),
            m = messages.next() => m,
        };
        let first = match first {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(Fault::Retry(format!("pulling: {e}"))),
            None => return Err(Fault::Retry("the consumer stopped".into())),
        };
        let mut batch = vec![first];
        let mut failed = None;
        while batch.len() < cfg.batch {
            match messages.next().now_or_never() {
                Some(Some(Ok(m))) => batch.push(m),
                Some(Some(Err(e))) => {
                    failed = Some(format!("pulling: {e}"));
                    break;
                }
                Some(None) => {
                    failed = Some("the consumer stopped".into());
                    break;
                }
                None => break,
            }
        }
        // The files the batch's records go to: from where the mirror ends
        // now (file 0 of a mirror made by this batch) to where it ends after.
        let from = mirror.as_ref().map_or(0, |w| w.position().file);
        let outcome = append(cfg, mirror, stats, &batch)?;
        if let Some(i) = outcome.acked {
            let to = mirror.as_ref().map_or(from, |w| w.position().file);
            batch.truncate(i + 1);
            let ack = batch.pop().expect("message i");
            if !flusher.submit(from..=to, ack) {
                return Err(Fault::Retry("the mirror's flusher stopped".into()));
            }
        }
        if let Some(why) = outcome.gap {
            *reposition = true;
            return Err(Fault::Retry(why));
        }
        if done(cfg, mirror) {
            return Ok(());
        }
        if let Some(why) = failed {
            return Err(Fault::Retry(why));
        }
    }
}

/// The error for a stream of log `theirs` and a mirror of log `ours`.
fn other_log(cfg: &PullConfig, theirs: u64, ours: u64) -> Error {
    Error::Mismatch(format!(
        "stream {} holds the log {theirs:016x}, the mirror {} is the log {ours:016x}",
        cfg.stream,
        cfg.mirror.display()
    ))
}

/// What appending a batch did.
struct Appended {
    /// The position in the batch of the last message to acknowledge.
    acked: Option<usize>,
    /// Why the batch stopped before its end: a record other than the next.
    gap: Option<String>,
}

/// Appends the records of `batch` that the mirror lacks, in order (the
/// flusher makes them durable).
fn append(
    cfg: &PullConfig,
    mirror: &mut Option<Writer>,
    stats: &mut PullStats,
    batch: &[async_nats::jetstream::Message],
) -> std::result::Result<Appended, Fault> {
    let mut out = Appended {
        acked: None,
        gap: None,
    };
    for (i, m) in batch.iter().enumerate() {
        let seq = m.info().map_or(0, |info| info.stream_sequence);
        let meta = Meta::parse(m.headers.as_ref(), seq)?;
        if mirror.is_none() {
            let w = builder(cfg)
                .log_id(meta.log_id)
                .first_index(meta.index)
                .build()?;
            *mirror = Some(w);
        }
        let w = mirror.as_mut().expect("made above");
        if meta.log_id != w.log_id() {
            return Err(Fault::Fatal(other_log(cfg, meta.log_id, w.log_id())));
        }
        let next = w.next_index();
        if meta.index < next {
            stats.skipped += 1;
        } else if meta.index == next {
            w.append_at(meta.msg_type, &m.payload, meta.timestamp)
                .map_err(|e| match e {
                    ringcore::Error::TooLarge { len, max } => Fault::Fatal(Error::Mismatch(
                        format!(
                            "record {} has {len} bytes, above the mirror's MTU of {max}: make the mirror with a larger --mtu / --region-size",
                            meta.index
                        ),
                    )),
                    e => Fault::Fatal(Error::Log(e)),
                })?;
            stats.appended += 1;
        } else {
            out.gap = Some(format!(
                "record {} came where {next} was next: moving the consumer to {next}",
                meta.index
            ));
            break;
        }
        out.acked = Some(i);
    }
    if let Some(w) = mirror.as_ref() {
        stats.next_index = w.next_index();
    }
    Ok(out)
}

/// The durable consumer, made anew where the mirror needs it elsewhere: at
/// the stream's start for a new mirror, at the mirror's next index when it
/// is missing, went past the mirror's end (the mirror was replaced by an
/// older copy), or must move (`reposition`); true when it was made at
/// the mirror's next index.
async fn prepare(
    stream: &Stream,
    cfg: &PullConfig,
    subject: &str,
    next: Option<u64>,
    tail: stream::Tail,
    reposition: bool,
) -> std::result::Result<(Consumer<PullConsumerConfig>, bool), Fault> {
    let existing = match stream.consumer_info(&cfg.durable).await {
        Ok(info) => Some(info),
        Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => None,
        Err(e) => return Err(Fault::Retry(format!("consumer {}: {e}", cfg.durable))),
    };
    let keep = match (next, &existing, reposition) {
        (Some(n), Some(info), false) => {
            // The record the consumer delivers next must not be past the
            // mirror's end. It goes on after what it delivered last: what a
            // killed puller had received but not acknowledged comes again
            // only after the acknowledgement wait, so that counts too.
            let delivered = info.delivered.stream_sequence;
            let coming = match stream::first_from(stream, subject, delivered + 1).await? {
                Some((_, m)) => m.index,
                // Saturating: a last record numbered u64::MAX (a hostile
                // publisher's) moves the consumer rather than overflow.
                None => tail.last.map_or(0, |m| m.index.saturating_add(1)),
            };
            coming <= n
        }
        _ => false,
    };
    let deliver_policy = match (next, existing, keep) {
        (Some(_), Some(info), true) => {
            let filter = &info.config.filter_subject;
            if filter != subject {
                return Err(Fault::Fatal(Error::Mismatch(format!(
                    "consumer {} of stream {} reads {filter:?}, not {subject}",
                    cfg.durable, cfg.stream
                ))));
            }
            let c = stream
                .get_consumer(&cfg.durable)
                .await
                .map_err(retry("getting the consumer"))?;
            return Ok((c, false));
        }
        (None, existing, _) => {
            if existing.is_some() {
                delete(stream, &cfg.durable).await?;
            }
            DeliverPolicy::All
        }
        (Some(n), existing, _) => {
            let start_sequence = match stream::find(stream, subject, n).await? {
                Place::At(seq) | Place::After(seq) => seq,
                Place::Gone { first } => {
                    return Err(Fault::Fatal(Error::Mismatch(format!(
                        "stream {} starts at record {first}, the mirror {} needs {n}: records {n} to {} are gone from it",
                        cfg.stream,
                        cfg.mirror.display(),
                        first - 1
                    ))))
                }
            };
            if existing.is_some() {
                delete(stream, &cfg.durable).await?;
            }
            DeliverPolicy::ByStartSequence { start_sequence }
        }
    };
    let moved = next.is_some();
    let c = stream
        .create_consumer(PullConsumerConfig {
            durable_name: Some(cfg.durable.clone()),
            description: Some(format!("ringmpsc mirror {}", cfg.mirror.display())),
            deliver_policy,
            ack_policy: AckPolicy::All,
            ack_wait: ACK_WAIT,
            filter_subject: subject.to_string(),
            max_ack_pending: (8 * cfg.batch).max(4096) as i64,
            ..Default::default()
        })
        .await
        .map_err(retry("making the consumer"))?;
    Ok((c, moved))
}

/// Whether a consumer lookup failed for want of the consumer.
fn not_found(e: &async_nats::jetstream::stream::ConsumerError) -> bool {
    use async_nats::jetstream::stream::ConsumerErrorKind;
    matches!(e.kind(), ConsumerErrorKind::JetStream(j) if j.error_code() == ErrorCode::CONSUMER_NOT_FOUND)
}

/// Deletes the durable consumer `name` (gone already is fine).
async fn delete(stream: &Stream, name: &str) -> std::result::Result<(), Fault> {
    match stream.delete_consumer(name).await {
        Ok(_) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        Err(e) => Err(Fault::Retry(format!("deleting consumer {name}: {e}"))),
    }
}
