//! The bridge's one error type.

use std::fmt;

/// What stopped a push or a pull. Network and server failures are retried
/// inside [`push`](crate::push::push) and [`pull`](crate::pull::pull)
/// (the server may be restarting); what reaches the caller is what
/// retrying cannot fix.
#[derive(Debug)]
pub enum Error {
    /// The source log or the mirror failed (missing, corrupt, locked by
    /// another writer, records deleted by retention before they were read).
    Log(ringcore::Error),
    /// The connection could not be made in a way retrying fixes: refused
    /// credentials, a TLS setup error, a bad server address.
    Connect(String),
    /// The stream, the log and the mirror do not belong together: another
    /// log's stream, a stream shared with other subjects, records the
    /// stream no longer holds, a record above the server's payload limit.
    Mismatch(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Log(e) => write!(f, "log: {e}"),
            Error::Connect(m) => write!(f, "connect: {m}"),
            Error::Mismatch(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Log(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ringcore::Error> for Error {
    fn from(e: ringcore::Error) -> Self {
        Error::Log(e)
    }
}

/// The bridge's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// A failure inside a push or a pull: retried (the server may be
/// restarting, a leader being elected) or fatal.
#[derive(Debug)]
pub(crate) enum Fault {
    /// Wait a little and start over from what the stream and the log say.
    Retry(String),
    /// Stop with this error.
    Fatal(Error),
}

impl From<Error> for Fault {
    fn from(e: Error) -> Self {
        Fault::Fatal(e)
    }
}

impl From<ringcore::Error> for Fault {
    fn from(e: ringcore::Error) -> Self {
        Fault::Fatal(Error::Log(e))
    }
}

/// Turns any client error into a retry, with `what` was being done.
pub(crate) fn retry<E: fmt::Display>(what: &'static str) -> impl Fn(E) -> Fault {
    move |e| Fault::Retry(format!("{what}: {e}"))
}
