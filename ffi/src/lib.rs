//! The C ABI of ringmpsc (`libringmpsc.so`, `libringmpsc.a`, `include/ringmpsc.h`).
//!
//! Thin `extern "C"` wrappers over `ringcore`: argument checks, error codes,
//! the per-thread last-error text and the panic boundary. No algorithm lives
//! here. The conventions are written once, in the header's preamble
//! (`cbindgen.toml`), and applied by the helpers of this module.

#![allow(non_camel_case_types)]
// Every exported function checks its pointers for NULL itself and is
// documented in the header; the raw-pointer arguments are the C contract.
#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

use ringcore::{Error, ErrorKind};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

mod args;
mod side;

mod client;
mod consumer;
mod event_loop;
mod fd;
mod lease;
mod log_reader;
mod log_writer;
mod metrics;
mod mpmc;
mod mpsc;
mod msg_receiver;
mod msg_ring;
mod msg_sender;
mod notifier;
mod numa;
mod pool;
mod ring;
mod server;
mod shared_ring;
mod shm;
mod spmc;
mod transport;
pub use client::*;
pub use consumer::*;
pub use event_loop::*;
pub use fd::*;
pub use lease::*;
pub use log_reader::*;
pub use log_writer::*;
pub use metrics::*;
pub use mpmc::*;
pub use mpsc::*;
pub use msg_receiver::*;
pub use msg_ring::*;
pub use msg_sender::*;
pub use notifier::*;
pub use numa::*;
pub use pool::*;
pub use ring::*;
pub use server::*;
pub use shared_ring::*;
pub use shm::*;
pub use spmc::*;
pub use transport::*;

/// Major version of the library (the soname is `libringmpsc.so.<major>`).
pub const RMPSC_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const RMPSC_VERSION_MINOR: u32 = 2;
/// Patch version of the library.
pub const RMPSC_VERSION_PATCH: u32 = 0;

/// Success.
pub const RMPSC_OK: c_int = 0;
/// An argument is NULL, out of range or inconsistent.
pub const RMPSC_EINVAL: c_int = -1;
/// No free slot; try again later or use a blocking call.
pub const RMPSC_EFULL: c_int = -2;
/// Nothing to read.
pub const RMPSC_EEMPTY: c_int = -3;
/// The ring or channel is closed (and, for reads, drained).
pub const RMPSC_ECLOSED: c_int = -4;
/// A blocking call reached its timeout.
pub const RMPSC_ETIMEDOUT: c_int = -5;
/// A message is larger than allowed.
pub const RMPSC_ETOOLARGE: c_int = -6;
/// Shared state written by another process is inconsistent.
pub const RMPSC_ECORRUPT: c_int = -7;
/// A segment or file header does not match what was expected.
pub const RMPSC_EHEADER: c_int = -8;
/// An operating-system call failed: errno holds its error number and
/// rmpsc_error_message() the text (where the failure was not a system
/// call's, the nearest number: ENOENT for a log that does not exist,
/// EACCES for a server that does not admit the user, ENOMEM, else EIO).
pub const RMPSC_EIO: c_int = -9;
/// The producer or consumer side is in use by another thread, or by a
/// call on the same object made from inside one of its handlers.
pub const RMPSC_EBUSY: c_int = -10;
/// No room for another producer or consumer.
pub const RMPSC_ETOOMANY: c_int = -11;
/// The peer process went away.
pub const RMPSC_EDISCONNECTED: c_int = -12;
/// An internal error was caught at the boundary (a bug: please report it).
pub const RMPSC_EPANIC: c_int = -13;
/// A log reader asked for records that retention already deleted.
pub const RMPSC_EBEHIND: c_int = -14;

/// The code for an error: every kind has its own, no catch-all.
pub(crate) fn code_of(e: &Error) -> c_int {
    match e.kind() {
        ErrorKind::Full => RMPSC_EFULL,
        ErrorKind::Empty => RMPSC_EEMPTY,
        ErrorKind::Closed => RMPSC_ECLOSED,
        ErrorKind::TimedOut => RMPSC_ETIMEDOUT,
        ErrorKind::TooLarge => RMPSC_ETOOLARGE,
        ErrorKind::InvalidArgument => RMPSC_EINVAL,
        ErrorKind::Corrupt => RMPSC_ECORRUPT,
        ErrorKind::InvalidHeader => RMPSC_EHEADER,
        ErrorKind::TooManyProducers | ErrorKind::TooManyConsumers => RMPSC_ETOOMANY,
        ErrorKind::Disconnected => RMPSC_EDISCONNECTED,
        ErrorKind::Busy => RMPSC_EBUSY,
        ErrorKind::FellBehind => RMPSC_EBEHIND,
        ErrorKind::Io => RMPSC_EIO,
    }
}

/// The last failure of this thread, kept as cheaply as possible: the
/// frequent outcomes (full, empty) store a static string, no allocation.
enum LastError {
    None,
    Static(&'static CStr),
    Owned(CString),
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = const { RefCell::new(LastError::None) };
}

fn set_last_error(e: &Error) {
    let msg = match e {
        // Answered by their code alone (see `call`).
        Error::Full | Error::Empty => return,
        Error::Closed => LastError::Static(c"ring is closed"),
        Error::TimedOut => LastError::Static(c"timed out"),
        other => LastError::Owned(
            CString::new(other.to_string().replace('\0', " ")).expect("NULs were replaced"),
        ),
    };
    // Not once the thread's locals are gone (a call from a thread-local
    // destructor): the code alone answers then.
    let _ = LAST_ERROR.try_with(|l| *l.borrow_mut() = msg);
}

/// Records `e` as this thread's last error and returns its code.
#[cold]
#[inline(never)]
fn fail(e: Error) -> c_int {
    set_last_error(&e);
    if let Error::Io(io) = &e {
        // Where no system call failed (a log that does not exist, a
        // server that does not admit the user), the nearest number, so
        // that errno never holds an older error's.
        let code = e.os_error().unwrap_or(match io.kind() {
            std::io::ErrorKind::NotFound => libc::ENOENT,
            std::io::ErrorKind::PermissionDenied => libc::EACCES,
            std::io::ErrorKind::ConnectionRefused => libc::ECONNREFUSED,
            std::io::ErrorKind::OutOfMemory => libc::ENOMEM,
            std::io::ErrorKind::AlreadyExists => libc::EEXIST,
            _ => libc::EIO,
        });
        // SAFETY: the calling thread's errno, valid for its lifetime.
        unsafe { *libc::__errno_location() = code };
    }
    code_of(&e)
}

/// Runs `f` behind the panic boundary and turns its result into a code.
#[inline]
pub(crate) fn call(f: impl FnOnce() -> Result<(), Error>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => RMPSC_OK,
        // The polling outcomes are answered by their code alone: a caller
        // spinning on a full or empty ring pays no call, thread-local or drop.
        Ok(Err(Error::Full)) => RMPSC_EFULL,
        Ok(Err(Error::Empty)) => RMPSC_EEMPTY,
        Ok(Err(e)) => fail(e),
        Err(_) => {
            let _ = LAST_ERROR.try_with(|l| {
                *l.borrow_mut() =
                    LastError::Static(c"internal error (panic caught at the C boundary)")
            });
            RMPSC_EPANIC
        }
    }
}

/// Like [`call`] for functions that cannot fail but must not unwind into C.
#[inline]
pub(crate) fn call_infallible<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Text of this thread's last failure ("" if none). RMPSC_EFULL and
/// RMPSC_EEMPTY, the outcomes a caller polls for, are answered by their
/// code alone and leave the text as it was. The pointer stays valid until
/// the next failing call on this thread. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_error_message() -> *const c_char {
    call_infallible(c"".as_ptr(), || {
        LAST_ERROR.with(|l| match &*l.borrow() {
            LastError::None => c"".as_ptr(),
            LastError::Static(s) => s.as_ptr(),
            LastError::Owned(s) => s.as_ptr(),
        })
    })
}

/// The version of the library loaded at run time as "major.minor.patch"
/// (static storage): compare it with the RMPSC_VERSION_* the program was
/// built with. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_library_version() -> *const c_char {
    VERSION.as_ptr()
}

/// The version string, from the package version (one source of truth).
const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version has no NUL"),
    };

/// Short description of an RMPSC_E* code (static storage). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_error_describe(code: c_int) -> *const c_char {
    let s: &'static CStr = match code {
        RMPSC_OK => c"success",
        RMPSC_EINVAL => c"invalid argument",
        RMPSC_EFULL => c"full",
        RMPSC_EEMPTY => c"empty",
        RMPSC_ECLOSED => c"closed",
        RMPSC_ETIMEDOUT => c"timed out",
        RMPSC_ETOOLARGE => c"message too large",
        RMPSC_ECORRUPT => c"corrupt shared state",
        RMPSC_EHEADER => c"invalid header",
        RMPSC_EIO => c"operating-system error",
        RMPSC_EBUSY => c"side in use by another thread",
        RMPSC_ETOOMANY => c"too many producers or consumers",
        RMPSC_EDISCONNECTED => c"peer disconnected",
        RMPSC_EPANIC => c"internal error",
        RMPSC_EBEHIND => c"reader fell behind retention",
        _ => c"unknown error code",
    };
    s.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_match_the_package() {
        let pkg = env!("CARGO_PKG_VERSION");
        assert_eq!(
            format!("{RMPSC_VERSION_MAJOR}.{RMPSC_VERSION_MINOR}.{RMPSC_VERSION_PATCH}"),
            pkg
        );
        // SAFETY: rmpsc_version returns a static NUL-terminated string.
        let version = unsafe { CStr::from_ptr(rmpsc_library_version()) };
        assert_eq!(version.to_str().unwrap(), pkg);
    }

    #[test]
    fn every_error_kind_has_a_code_and_a_text() {
        let all = [
            Error::Full,
            Error::Empty,
            Error::Closed,
            Error::TimedOut,
            Error::TooLarge { len: 2, max: 1 },
            Error::InvalidArgument("x".into()),
            Error::Corrupt("x".into()),
            Error::InvalidHeader("x".into()),
            Error::TooManyProducers,
            Error::TooManyConsumers,
            Error::Disconnected,
            Error::Busy("x"),
            Error::FellBehind("x".into()),
            Error::Io(std::io::Error::other("x")),
        ];
        for e in &all {
            let code = code_of(e);
            assert!(code < 0, "{e}");
            // SAFETY: static NUL-terminated string.
            let text = unsafe { CStr::from_ptr(rmpsc_error_describe(code)) };
            assert_ne!(text.to_str().unwrap(), "unknown error code", "{e}");
        }
    }

    #[test]
    fn panics_become_codes() {
        assert_eq!(call(|| panic!("boom")), RMPSC_EPANIC);
        // SAFETY: static or thread-local NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(rmpsc_error_message()) };
        assert!(msg.to_str().unwrap().contains("panic"));
        assert_eq!(
            call(|| Err(Error::InvalidArgument("x".into()))),
            RMPSC_EINVAL
        );
        // SAFETY: as above.
        let msg = unsafe { CStr::from_ptr(rmpsc_error_message()) };
        assert_eq!(msg.to_str().unwrap(), "invalid argument: x");
    }
}
