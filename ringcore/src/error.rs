//! The one error type of the crate.

use std::fmt;
use std::io;

/// Everything that can go wrong in ringmpsc.
///
/// Operations that hand an item back on failure (for example
/// [`Producer::send_one`](crate::Producer::send_one)) wrap this in a
/// [`SendError`] so the item is never lost.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No free slot: the consumer has not caught up.
    Full,
    /// Nothing to read.
    Empty,
    /// The ring or channel was closed.
    Closed,
    /// A blocking call reached its deadline.
    TimedOut,
    /// A message is larger than the ring, slot or format allows.
    TooLarge {
        /// Size of the rejected message in bytes.
        len: usize,
        /// Largest size accepted.
        max: usize,
    },
    /// An argument is out of range.
    InvalidArgument(String),
    /// Shared state read from another process is inconsistent (a crashed or
    /// hostile peer): the operation was refused before touching memory.
    Corrupt(String),
    /// A segment or file header does not describe what was expected.
    InvalidHeader(String),
    /// The channel has no room for another producer.
    TooManyProducers,
    /// The channel has no room for another consumer.
    TooManyConsumers,
    /// The peer went away.
    Disconnected,
    /// A role (producer or consumer side) is in use by another thread; the
    /// C and Python APIs check this at run time.
    Busy(&'static str),
    /// A log reader asked for records that retention already deleted.
    FellBehind(String),
    /// An operating-system call failed.
    Io(io::Error),
}

/// What kind of failure an [`Error`] is, without its details.
///
/// Unlike `Error` this enum is exhaustive on purpose: the C and Python
/// bindings map every kind with no catch-all, so a kind added here fails
/// their build until it has a code and an exception of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`Error::Full`].
    Full,
    /// [`Error::Empty`].
    Empty,
    /// [`Error::Closed`].
    Closed,
    /// [`Error::TimedOut`].
    TimedOut,
    /// [`Error::TooLarge`].
    TooLarge,
    /// [`Error::InvalidArgument`].
    InvalidArgument,
    /// [`Error::Corrupt`].
    Corrupt,
    /// [`Error::InvalidHeader`].
    InvalidHeader,
    /// [`Error::TooManyProducers`].
    TooManyProducers,
    /// [`Error::TooManyConsumers`].
    TooManyConsumers,
    /// [`Error::Disconnected`].
    Disconnected,
    /// [`Error::Busy`].
    Busy,
    /// [`Error::FellBehind`].
    FellBehind,
    /// [`Error::Io`].
    Io,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Full => ErrorKind::Full,
            Error::Empty => ErrorKind::Empty,
            Error::Closed => ErrorKind::Closed,
            Error::TimedOut => ErrorKind::TimedOut,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Corrupt(_) => ErrorKind::Corrupt,
            Error::InvalidHeader(_) => ErrorKind::InvalidHeader,
            Error::TooManyProducers => ErrorKind::TooManyProducers,
            Error::TooManyConsumers => ErrorKind::TooManyConsumers,
            Error::Disconnected => ErrorKind::Disconnected,
            Error::Busy(_) => ErrorKind::Busy,
            Error::FellBehind(_) => ErrorKind::FellBehind,
            Error::Io(_) => ErrorKind::Io,
        }
    }

    /// The operating system's error number (`errno`) behind an
    /// [`Error::Io`], where an OS call failed.
    pub fn os_error(&self) -> Option<i32> {
        match self {
            Error::Io(e) => os_code(e),
            _ => None,
        }
    }
}

/// The text of an OS error with what was being done in front, keeping the
/// error number that `io::Error::new` would drop.
#[derive(Debug)]
struct OsContext {
    code: i32,
    text: String,
}

impl fmt::Display for OsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for OsContext {}

fn os_code(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
        .or_else(|| Some(e.get_ref()?.downcast_ref::<OsContext>()?.code))
}

/// `InvalidArgument` for a commit of `len` bytes where `claimed` were
/// claimed or reserved. Out of line: commits are on the hot path.
#[cold]
#[inline(never)]
pub(crate) fn overlong_commit(len: u64, claimed: u64) -> Error {
    Error::InvalidArgument(format!(
        "commit of {len} bytes exceeds the {claimed} claimed"
    ))
}

/// `Corrupt` with the text `what`. Out of line, so that the checks of
/// records on the hot paths stay small enough to inline.
#[cold]
#[inline(never)]
pub(crate) fn corrupt(what: fmt::Arguments<'_>) -> Error {
    Error::Corrupt(what.to_string())
}

/// `e` with `context` in front of its text ("context: text"), keeping its
/// kind and its OS error number.
pub(crate) fn with_context(e: io::Error, context: impl fmt::Display) -> io::Error {
    let text = format!("{context}: {e}");
    match os_code(&e) {
        Some(code) => io::Error::new(e.kind(), OsContext { code, text }),
        None => io::Error::new(e.kind(), text),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => f.write_str("ring is full"),
            Error::Empty => f.write_str("ring is empty"),
            Error::Closed => f.write_str("ring is closed"),
            Error::TimedOut => f.write_str("timed out"),
            Error::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the maximum of {max}")
            }
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Corrupt(m) => write!(f, "corrupt shared state: {m}"),
            Error::InvalidHeader(m) => write!(f, "invalid header: {m}"),
            Error::TooManyProducers => f.write_str("too many producers"),
            Error::TooManyConsumers => f.write_str("too many consumers"),
            Error::Disconnected => f.write_str("peer disconnected"),
            Error::Busy(role) => write!(f, "the {role} is held by another thread or process"),
            Error::FellBehind(m) => write!(f, "reader fell behind: {m}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A send that failed, carrying the item back so it is not lost.
///
/// `reason` is [`Error::Full`], [`Error::Closed`] or [`Error::TimedOut`].
pub struct SendError<T> {
    /// The item that was not sent.
    pub item: T,
    /// Why it was not sent.
    pub reason: Error,
}

impl<T> SendError<T> {
    /// Gives the item back.
    pub fn into_inner(self) -> T {
        self.item
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "send failed: {}", self.reason)
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> From<SendError<T>> for Error {
    fn from(e: SendError<T>) -> Self {
        e.reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_os_error_number_kind_and_text() {
        let raw = io::Error::from_raw_os_error(libc::ENOENT);
        let once = with_context(raw, "cannot open /x");
        let twice = Error::Io(with_context(once, "attach"));
        assert_eq!(twice.os_error(), Some(libc::ENOENT));
        assert_eq!(twice.kind(), ErrorKind::Io);
        let Error::Io(io) = &twice else {
            unreachable!()
        };
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        let text = twice.to_string();
        assert!(
            text.starts_with("I/O error: attach: cannot open /x: "),
            "{text}"
        );
        assert!(text.contains("No such file"), "{text}");

        let plain = Error::Io(with_context(io::Error::other("no number"), "here"));
        assert_eq!(plain.os_error(), None);
        assert_eq!(plain.to_string(), "I/O error: here: no number");
        assert_eq!(Error::Full.os_error(), None);
    }
}
