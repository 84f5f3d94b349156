//! What an operator's tool sees of this machine's rings, logs and
//! channels, read-only: the `ringmpsc` command is a thin renderer over it.
//!
//! - [`scan`] and [`classify`]: the ringmpsc segments and logs in
//!   directories (by default `/dev/shm`), each a plain [`Entry`]; a file
//!   that is corrupt, foreign or unreadable is an entry with an error,
//!   never a failure of the scan.
//! - [`Target`]: one segment or log by name or path, for a closer look
//!   (snapshots, a non-consuming look at records, following).
//! - [`Meter`]: message and byte counts of a target over time, for rates.
//! - [`clean`]: removes the segments the stale rule says are dead.
//!
//! Everything here maps files `PROT_READ` ([`shm::inspect`](crate::shm::inspect),
//! [`log::inspect`](crate::log::inspect)): nothing in shared memory or in
//! a log is ever written. Only [`clean`] changes anything: it unlinks
//! names of stale segments.

mod catalog;
mod clean;
mod meter;
mod target;

pub use catalog::{classify, scan, Entry, EntryKind, DEFAULT_DIR};
pub use clean::{clean, CleanAction, CleanOutcome};
pub use meter::{ClientTotals, Meter, Totals};
pub use target::Target;

/// Serializes a path as a string, any byte that is not UTF-8 replaced
/// (`U+FFFD`): a file name is whatever bytes its creator chose, and one of
/// them must not make a whole JSON report fail.
#[cfg(feature = "serde")]
pub fn lossy_path<S: serde::Serializer>(
    path: &std::path::Path,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}
