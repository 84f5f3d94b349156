//! Replicates a ringmpsc log through NATS JetStream and rebuilds it on
//! other hosts.
//!
//! - [`push::push`] follows a log and publishes each record to a stream
//!   of its own, with its index, type and timestamp in headers and a
//!   message id made of the log's identity and index; publishes are
//!   pipelined, chained on the stream's last sequence and resumed from the
//!   stream's end after any failure or restart.
//! - [`pull::pull`] reads the stream through a durable pull consumer and
//!   appends each record to a mirror log with the same identity, indices,
//!   types, timestamps and payloads, acknowledging records only once they
//!   are flushed to storage; restarted, it skips what the mirror has.
//!
//! The mirror is an ordinary log: Rust, C and Python readers tail it live.
//! The `ringmpsc-bridge` binary wraps both (`push`, `pull`). This crate
//! is the only one of the project that uses tokio and async-nats.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod connect;
pub mod error;
mod flusher;
pub mod pull;
pub mod push;
pub mod record;
mod source;
pub mod stream;

pub use connect::ConnectConfig;
pub use error::{Error, Result};
