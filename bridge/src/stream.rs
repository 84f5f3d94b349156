//! The stream a log goes through: one stream per log, holding one subject,
//! made by the pusher if it does not exist. Being alone in its stream lets
//! the pusher chain its publishes on the stream's last sequence (see
//! [`push`](crate::push)) and lets both sides find a record's place by
//! its index.

use crate::error::{retry, Error, Fault};
use crate::record::Meta;
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::stream::{Config, LastRawMessageErrorKind, StorageType, Stream};
use async_nats::jetstream::Context;
use async_nats::jetstream::ErrorCode;
use std::time::Duration;

/// The stream a pusher publishes to.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Stream name.
    pub name: String,
    /// The one subject of the stream.
    pub subject: String,
    /// Replicas of a stream the pusher makes (1, or 3 in a cluster).
    pub replicas: usize,
    /// How long JetStream remembers a message id to drop a replay of it.
    /// It needs to cover the time between a publish and its replay by a
    /// restarted pusher (the acknowledgement timeout plus a restart);
    /// the server keeps one entry per message inside it.
    pub duplicate_window: Duration,
}

/// The subject of stream `name` unless one is given: `rmpsc.NAME`.
pub fn default_subject(name: &str) -> String {
    format!("rmpsc.{name}")
}

/// Whether a JetStream API error has `code`.
fn is_code(e: &async_nats::jetstream::Error, code: ErrorCode) -> bool {
    e.error_code() == code
}

/// The stream `name`, or `None` if the server has none of that name.
pub(crate) async fn get(js: &Context, name: &str) -> Result<Option<Stream>, Fault> {
    match js.get_stream(name).await {
        Ok(s) => Ok(Some(s)),
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(j) if is_code(&j, ErrorCode::STREAM_NOT_FOUND) => {
                Ok(None)
            }
            _ => Err(Fault::Retry(format!("stream {name}: {e}"))),
        },
    }
}

/// The subject of an existing stream, which must have exactly one
/// (`expected`, when given).
pub(crate) fn only_subject(stream: &Stream, expected: Option<&str>) -> Result<String, Fault> {
    let config = &stream.cached_info().config;
    match (config.subjects.as_slice(), expected) {
        ([one], None) => Ok(one.clone()),
        ([one], Some(e)) if one == e => Ok(one.clone()),
        (subjects, _) => Err(Fault::Fatal(Error::Mismatch(format!(
            "stream {} holds the subjects {subjects:?}: a log needs a stream of its own{}",
            config.name,
            expected.map_or(String::new(), |e| format!(" with the one subject {e}"))
        )))),
    }
}

/// Makes the stream of `spec` or checks the one there.
pub(crate) async fn ensure(js: &Context, spec: &StreamSpec) -> Result<Stream, Fault> {
    if let Some(s) = get(js, &spec.name).await? {
        only_subject(&s, Some(&spec.subject))?;
        return Ok(s);
    }
    let config = Config {
        name: spec.name.clone(),
        subjects: vec![spec.subject.clone()],
        storage: StorageType::File,
        num_replicas: spec.replicas,
        duplicate_window: spec.duplicate_window,
        description: Some("a ringmpsc log (ringmpsc-bridge)".into()),
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(retry("creating the stream"))
}

/// Where the stream ends: its last sequence, and the record stored last
/// (none in an empty or purged stream).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tail {
    pub(crate) last_seq: u64,
    pub(crate) last: Option<Meta>,
}

/// The end of `stream`, whose one subject is `subject`. Messages may land
/// while it looks (a killed pusher's last publishes, still in the server's
/// socket buffer): the later of the two looks wins, and a pusher that
/// chains on a sequence that moved on is refused and looks again.
pub(crate) async fn tail(stream: &Stream, subject: &str) -> Result<Tail, Fault> {
    let info = stream.get_info().await.map_err(retry("stream info"))?;
    let last_seq = info.state.last_sequence;
    if info.state.messages == 0 {
        return Ok(Tail {
            last_seq,
            last: None,
        });
    }
    match stream.get_last_raw_message_by_subject(subject).await {
        // An operator may have deleted the last messages: the stream's
        // last sequence stays where it was (it is what a publish is
        // chained on).
        Ok(m) => Ok(Tail {
            last_seq: last_seq.max(m.sequence),
            last: Some(Meta::parse(Some(&m.headers), m.sequence)?),
        }),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(Tail {
            last_seq,
            last: None,
        }),
        Err(e) => Err(Fault::Retry(format!("last message: {e}"))),
    }
}

/// Where record `index` is in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// At this sequence.
    At(u64),
    /// Not stored yet: it will come at or after this sequence.
    After(u64),
    /// No longer in the stream, which starts at record `first`.
    Gone { first: u64 },
}

/// The first message at or after sequence `seq` on `subject`, as
/// (sequence, record), or `None` past the end.
pub(crate) async fn first_from(
    stream: &Stream,
    subject: &str,
    seq: u64,
) -> Result<Option<(u64, Meta)>, Fault> {
    match stream.get_first_raw_message_by_subject(subject, seq).await {
        Ok(m) => Ok(Some((
            m.sequence,
            Meta::parse(Some(&m.headers), m.sequence)?,
        ))),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(Fault::Retry(format!("message at {seq}: {e}"))),
    }
}

/// Finds record `index` of the log on `subject` by bisecting the stream's
/// sequences: records go into the stream in index order, one each (the
/// pusher's chain), so the index grows with the sequence. A few dozen
/// lookups for a stream of millions.
pub(crate) async fn find(stream: &Stream, subject: &str, index: u64) -> Result<Place, Fault> {
    let info = stream.get_info().await.map_err(retry("stream info"))?;
    let (first_seq, last_seq) = (info.state.first_sequence, info.state.last_sequence);
    let Some((seq0, first)) = first_from(stream, subject, first_seq).await? else {
        return Ok(Place::After(last_seq + 1));
    };
    if index < first.index {
        return Ok(Place::Gone { first: first.index });
    }
    if index == first.index {
        return Ok(Place::At(seq0));
    }
    // Invariant: the record at `lo` has an index below `index`; every
    // message from `hi` on has one at or above it (or there is none).
    let (mut lo, mut hi) = (seq0, last_seq + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match first_from(stream, subject, mid).await? {
            Some((seq, m)) if m.index < index => lo = seq,
            Some((seq, m)) if m.index == index => return Ok(Place::At(seq)),
            _ => hi = mid,
        }
    }
    match first_from(stream, subject, hi).await? {
        Some((seq, m)) if m.index == index => Ok(Place::At(seq)),
        Some((seq, m)) => Err(Fault::Fatal(Error::Mismatch(format!(
            "stream {} has no record {index}: record {} at sequence {seq} follows a lower one",
            info.config.name, m.index
        )))),
        None => Ok(Place::After(hi)),
    }
}
