//! A log record as a JetStream message: the payload is the record's
//! payload, byte for byte; the rest travels in headers.
//!
//! ```text
//! header                       value                          example
//! Nats-Msg-Id                  <log id, 16 hex>-<index>       0123456789abcdef-42
//! Rmpsc-Index                  the record's index, decimal    42
//! Rmpsc-Type                   its msg_type, decimal          7
//! Rmpsc-Time                   its timestamp, decimal         1733323456789012345
//! Nats-Expected-Last-Sequence  (publish only) the stream sequence the
//!                              previous record got; not stored
//! ```
//!
//! The message id is what JetStream deduplicates on: the same record
//! published twice (a pusher restarted before it saw an acknowledgement)
//! is stored once. The log id in it keeps two logs that reuse a path (and
//! so their indices) apart. The index is also a header of its own, read
//! back and checked against the id.

use crate::error::{Error, Result};
use async_nats::header::{HeaderMap, NATS_EXPECTED_LAST_SEQUENCE, NATS_MESSAGE_ID};

/// Header carrying the record's index.
pub const INDEX: &str = "Rmpsc-Index";
/// Header carrying the record's `msg_type`.
pub const TYPE: &str = "Rmpsc-Type";
/// Header carrying the record's timestamp.
pub const TIME: &str = "Rmpsc-Time";

/// Everything about a record but its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The identity of the log the record belongs to.
    pub log_id: u64,
    /// The record's index in that log.
    pub index: u64,
    /// The writer's message type.
    pub msg_type: u32,
    /// The writer's timestamp (or user field).
    pub timestamp: u64,
}

/// The JetStream message id of record `index` of log `log_id`.
pub fn message_id(log_id: u64, index: u64) -> String {
    format!("{log_id:016x}-{index}")
}

impl Meta {
    /// The headers of the record's message; `expected_last` asks the
    /// stream to store it only if its last message has that sequence.
    pub fn headers(&self, expected_last: Option<u64>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(NATS_MESSAGE_ID, message_id(self.log_id, self.index));
        h.insert(INDEX, self.index.to_string());
        h.insert(TYPE, self.msg_type.to_string());
        h.insert(TIME, self.timestamp.to_string());
        if let Some(seq) = expected_last {
            h.insert(NATS_EXPECTED_LAST_SEQUENCE, seq.to_string());
        }
        h
    }

    /// Reads the headers of a stored message (`seq` names it in errors).
    pub fn parse(headers: Option<&HeaderMap>, seq: u64) -> Result<Meta> {
        let bad = |what: &str| {
            Error::Mismatch(format!(
                "the message at stream sequence {seq} is not a ringmpsc record: {what}"
            ))
        };
        let h = headers.ok_or_else(|| bad("no headers"))?;
        let get = |name: &str| {
            h.get(name)
                .map(|v| v.as_str())
                .ok_or_else(|| bad(&format!("no {name} header")))
        };
        let id_header: &str = NATS_MESSAGE_ID.as_ref();
        let id = get(id_header)?;
        let (log, index) = id
            .split_once('-')
            .ok_or_else(|| bad(&format!("message id {id:?}")))?;
        let log_id =
            u64::from_str_radix(log, 16).map_err(|_| bad(&format!("message id {id:?}")))?;
        let number = |name: &str| -> Result<u64> {
            let v = get(name)?;
            v.parse().map_err(|_| bad(&format!("{name} {v:?}")))
        };
        let meta = Meta {
            log_id,
            index: number(INDEX)?,
            msg_type: u32::try_from(number(TYPE)?).map_err(|_| bad("type above 32 bits"))?,
            timestamp: number(TIME)?,
        };
        if index != meta.index.to_string() {
            return Err(bad(&format!(
                "message id {id:?} names another index than {INDEX} {}",
                meta.index
            )));
        }
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_bad_ones_are_named() {
        let m = Meta {
            log_id: 0x0123_4567_89ab_cdef,
            index: 42,
            msg_type: u32::MAX,
            timestamp: u64::MAX,
        };
        let h = m.headers(Some(41));
        assert_eq!(
            h.get(NATS_MESSAGE_ID).unwrap().as_str(),
            "0123456789abcdef-42"
        );
        assert_eq!(h.get(NATS_EXPECTED_LAST_SEQUENCE).unwrap().as_str(), "41");
        assert_eq!(Meta::parse(Some(&h), 1).unwrap(), m);
        assert!(m.headers(None).get(NATS_EXPECTED_LAST_SEQUENCE).is_none());

        let e = Meta::parse(None, 9).unwrap_err().to_string();
        assert!(e.contains("sequence 9") && e.contains("no headers"), "{e}");
        let mut h = m.headers(None);
        h.insert(INDEX, "43");
        let e = Meta::parse(Some(&h), 9).unwrap_err().to_string();
        assert!(e.contains("another index"), "{e}");
        let mut h = m.headers(None);
        h.insert(TYPE, (u64::from(u32::MAX) + 1).to_string());
        assert!(Meta::parse(Some(&h), 9).is_err());
        let mut h = m.headers(None);
        h.insert(NATS_MESSAGE_ID, "nothex-42");
        assert!(Meta::parse(Some(&h), 9).is_err());
    }
}
