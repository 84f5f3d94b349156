//! The handle and argument toolkit every exported function uses, so that
//! the header's rules hold by construction: handles are made, borrowed and
//! freed one way; out-parameters are checked before the call does anything
//! and written only once it succeeded; a caller's array is checked once
//! (NULL, alignment, size overflow); a timeout has one meaning.

use ringcore::{Error, WaitStrategy};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::time::Duration;

/// The error for a NULL argument, built out of line so that a hot call
/// pays only its test.
#[cold]
#[inline(never)]
pub(crate) fn null_argument(name: &'static str) -> Error {
    Error::InvalidArgument(format!("{name} is NULL"))
}

/// `Err(InvalidArgument)` naming the parameter when `p` is NULL.
#[inline(always)]
pub(crate) fn non_null<T>(p: *const T, name: &'static str) -> Result<(), Error> {
    if p.is_null() {
        return Err(null_argument(name));
    }
    Ok(())
}

/// Borrows the handle `p` (named `name` in errors) for the call.
#[inline(always)]
pub(crate) fn handle<'a, T>(p: *const T, name: &'static str) -> Result<&'a T, Error> {
    non_null(p, name)?;
    // SAFETY: non-NULL; by the C contract it came from this library's
    // constructor for T and was not freed.
    Ok(unsafe { &*p })
}

/// Frees a handle made by [`Out::put`] (NULL is ignored), behind the panic
/// boundary.
pub(crate) fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: by the C contract, from Box::into_raw and freed once.
        crate::call_infallible((), || drop(unsafe { Box::from_raw(p) }));
    }
}

/// A required out-parameter, checked when the call starts and written only
/// when it succeeded.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// `InvalidArgument` naming the parameter when `p` is NULL.
    #[inline(always)]
    pub(crate) fn new(p: *mut T, name: &'static str) -> Result<Self, Error> {
        NonNull::new(p).map(Out).ok_or_else(|| null_argument(name))
    }

    /// Writes the result (unaligned: a misaligned pointer from C is its
    /// mistake, not a reason for a debug build to abort).
    #[inline(always)]
    pub(crate) fn set(self, v: T) {
        // SAFETY: non-NULL and, by the C contract, writable.
        unsafe { self.0.as_ptr().write_unaligned(v) };
    }
}

impl<T> Out<*mut T> {
    /// Writes a new handle owning `v` (freed by its `_free` function).
    pub(crate) fn put(self, v: T) {
        self.set(Box::into_raw(Box::new(v)));
    }
}

/// An optional out-parameter: NULL means the caller does not want it.
pub(crate) struct OptOut<T>(*mut T);

impl<T> OptOut<T> {
    #[inline(always)]
    pub(crate) fn new(p: *mut T) -> Self {
        OptOut(p)
    }

    /// Writes the result if it was asked for (unaligned, as [`Out::set`]).
    #[inline(always)]
    pub(crate) fn set(self, v: T) {
        if !self.0.is_null() {
            // SAFETY: non-NULL and, by the C contract, writable.
            unsafe { self.0.write_unaligned(v) };
        }
    }
}

/// A struct the caller passes in by pointer, copied (unaligned, as
/// [`Out::set`] writes); `None` for NULL.
pub(crate) fn read_in<T: Copy>(p: *const T) -> Option<T> {
    // SAFETY: non-NULL and, by the C contract, readable.
    (!p.is_null()).then(|| unsafe { p.read_unaligned() })
}

/// `len` items at `data` for the call (NULL allowed when `len` is 0),
/// checked for NULL, alignment and a size that can exist.
pub(crate) fn slice<'a, T>(
    data: *const T,
    len: usize,
    name: &'static str,
) -> Result<&'a [T], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    check_array(data, len, name)?;
    // SAFETY: checked above; by the C contract readable for `len` items
    // during the call.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// [`slice`], writable.
pub(crate) fn slice_mut<'a, T>(
    data: *mut T,
    len: usize,
    name: &'static str,
) -> Result<&'a mut [T], Error> {
    if len == 0 {
        return Ok(&mut []);
    }
    check_array(data, len, name)?;
    // SAFETY: checked above; by the C contract writable for `len` items
    // during the call and not aliased.
    Ok(unsafe { std::slice::from_raw_parts_mut(data, len) })
}

#[inline(always)]
fn check_array<T>(data: *const T, len: usize, name: &'static str) -> Result<(), Error> {
    non_null(data, name)?;
    if !data.is_aligned()
        || len
            .checked_mul(std::mem::size_of::<T>())
            .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(bad_array(name, len));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn bad_array(name: &'static str, len: usize) -> Error {
    Error::InvalidArgument(format!("{name}: no array of {len} items can be there"))
}

/// `count` items of `size` bytes at `data`, as bytes (the size product is
/// checked).
#[inline(always)]
pub(crate) fn items<'a>(
    data: *const c_void,
    count: usize,
    size: usize,
    name: &'static str,
) -> Result<&'a [u8], Error> {
    slice(data.cast::<u8>(), byte_len(count, size, name)?, name)
}

/// [`items`], writable.
#[inline(always)]
pub(crate) fn items_mut<'a>(
    data: *mut c_void,
    count: usize,
    size: usize,
    name: &'static str,
) -> Result<&'a mut [u8], Error> {
    slice_mut(data.cast::<u8>(), byte_len(count, size, name)?, name)
}

#[inline(always)]
fn byte_len(count: usize, size: usize, name: &'static str) -> Result<usize, Error> {
    count
        .checked_mul(size)
        .ok_or_else(|| bad_array(name, count))
}

/// A timeout argument in nanoseconds, the same everywhere: negative waits
/// without limit, 0 does not wait.
#[inline]
pub(crate) fn timeout(ns: i64) -> Option<Duration> {
    (ns >= 0).then(|| Duration::from_nanos(ns as u64))
}

/// [`timeout`] as a duration: negative is `Duration::MAX` (no limit), for
/// the calls that take a duration (attach waits, liveness windows).
#[inline]
pub(crate) fn duration(ns: i64) -> Duration {
    timeout(ns).unwrap_or(Duration::MAX)
}

/// The wait of a blocking call with timeout `ns` (see [`timeout`]).
#[inline]
pub(crate) fn strategy(ns: i64) -> WaitStrategy {
    WaitStrategy::blocking_for(timeout(ns))
}

/// A name argument that may be NULL (an anonymous segment where allowed).
pub(crate) fn opt_name<'a>(name: *const c_char) -> Result<Option<&'a str>, Error> {
    if name.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and, by the C contract, a NUL-terminated string that
    // outlives the call.
    let s = unsafe { CStr::from_ptr(name) };
    s.to_str()
        .map(Some)
        .map_err(|_| Error::InvalidArgument("name is not UTF-8".into()))
}

/// A required string argument.
pub(crate) fn name<'a>(name: *const c_char) -> Result<&'a str, Error> {
    opt_name(name)?.ok_or_else(|| null_argument("name"))
}

/// Duplicates a caller's descriptor, so the caller keeps its own.
pub(crate) fn dup_fd(fd: c_int) -> Result<OwnedFd, Error> {
    if fd < 0 {
        return Err(Error::InvalidArgument(format!("bad descriptor {fd}")));
    }
    // SAFETY: fd is a descriptor the caller owns for the duration of the call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(borrowed.try_clone_to_owned()?)
}
