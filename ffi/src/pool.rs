//! `rmpsc_pool_*`: the slab buffer pool, on the heap or in shared memory.

use crate::shared::{dup_fd, name, opt_name, permissions, put, rmpsc_permissions_t, timeout};
use crate::{call, call_infallible, non_null};
use ringcore::{BufferPool, Error, Handle};
use std::ffi::{c_char, c_int, c_void};
use std::os::fd::AsRawFd;

/// A pool of fixed-size slabs (opaque). alloc/release are lock-free and
/// thread-safe (and process-safe for a shared pool); a slab belongs to
/// whoever holds its handle.
pub struct rmpsc_pool_t {
    pool: BufferPool,
}

fn pool<'a>(p: *const rmpsc_pool_t) -> Result<&'a BufferPool, Error> {
    non_null(p, "pool")?;
    // SAFETY: non-NULL and live by contract.
    Ok(unsafe { &(*p).pool })
}

/// A pool of `num_slabs` slabs of `slab_size` bytes on this process's heap. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_new(
    slab_size: usize,
    num_slabs: usize,
    out: *mut *mut rmpsc_pool_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        put(
            out,
            rmpsc_pool_t {
                pool: BufferPool::new(slab_size, num_slabs)?,
            },
        );
        Ok(())
    })
}

/// A pool in shared memory: `name` as for rmpsc_shared_create (NULL: an
/// anonymous memfd, shared with rmpsc_pool_fd). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_create_shared(
    name: *const c_char,
    slab_size: usize,
    num_slabs: usize,
    out: *mut *mut rmpsc_pool_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let pool = BufferPool::create_shared(opt_name(name)?, slab_size, num_slabs)?;
        put(out, rmpsc_pool_t { pool });
        Ok(())
    })
}

/// rmpsc_pool_create_shared with the named segment's mode and group
/// (`perm` NULL: the defaults; see rmpsc_shared_create_with). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_create_shared_with(
    name: *const c_char,
    slab_size: usize,
    num_slabs: usize,
    perm: *const rmpsc_permissions_t,
    out: *mut *mut rmpsc_pool_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let pool = BufferPool::create_shared_with(
            opt_name(name)?,
            slab_size,
            num_slabs,
            permissions(perm),
        )?;
        put(out, rmpsc_pool_t { pool });
        Ok(())
    })
}

/// Opens a named shared pool, waiting up to `timeout_ns` (negative: a day). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_attach(
    name: *const c_char,
    timeout_ns: i64,
    out: *mut *mut rmpsc_pool_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let pool = BufferPool::attach_shared(self::name(name)?, timeout(timeout_ns))?;
        put(out, rmpsc_pool_t { pool });
        Ok(())
    })
}

/// Maps a shared pool from a descriptor (duplicated; the caller keeps `fd`). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_attach_fd(fd: c_int, out: *mut *mut rmpsc_pool_t) -> c_int {
    call(|| {
        non_null(out, "out")?;
        put(
            out,
            rmpsc_pool_t {
                pool: BufferPool::from_fd(dup_fd(fd)?)?,
            },
        );
        Ok(())
    })
}

/// Frees the pool handle (a shared pool's memory lives on in other
/// processes). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_pool_free(p: *mut rmpsc_pool_t) {
    if !p.is_null() {
        // SAFETY: from Box::into_raw; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(p) }));
    }
}

/// The segment descriptor of a shared pool (-1 for a heap pool or NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_fd(p: *const rmpsc_pool_t) -> c_int {
    call_infallible(-1, || {
        pool(p)
            .ok()
            .and_then(|p| p.segment())
            .map_or(-1, |s| s.fd().as_raw_fd())
    })
}

/// Takes a free slab; `*handle` is its 4-byte handle (send it through a ring).
/// Errors: RMPSC_EFULL (every slab in use), RMPSC_ECORRUPT. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_alloc(p: *const rmpsc_pool_t, handle: *mut u32) -> c_int {
    call(|| {
        non_null(handle, "handle")?;
        let h = pool(p)?.try_alloc()?.ok_or(Error::Full)?;
        // SAFETY: non-NULL, writable by contract.
        unsafe { *handle = h.raw() };
        Ok(())
    })
}

/// Returns a slab to the pool. A handle that is not allocated (freed twice,
/// stale, foreign) gives RMPSC_EINVAL and changes nothing. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_release(p: *const rmpsc_pool_t, handle: u32) -> c_int {
    call(|| pool(p)?.free(Handle::from_raw(handle)))
}

/// The whole slab of `handle`, writable in place: `*data`, `*capacity` bytes.
/// The handle's holder only. Errors: RMPSC_EINVAL (bad handle).
#[no_mangle]
pub extern "C" fn rmpsc_pool_get_writable(
    p: *const rmpsc_pool_t,
    handle: u32,
    data: *mut *mut c_void,
    capacity: *mut usize,
) -> c_int {
    call(|| {
        non_null(data, "data")?;
        non_null(capacity, "capacity")?;
        let pool = pool(p)?;
        let at = pool.slab_address(Handle::from_raw(handle))?;
        // SAFETY: non-NULL, writable by contract.
        unsafe {
            *data = at.as_ptr().cast();
            *capacity = pool.slab_size();
        }
        Ok(())
    })
}

/// Sets the payload length of a slab (at most the slab size). Errors:
/// RMPSC_EINVAL, RMPSC_ETOOLARGE.
#[no_mangle]
pub extern "C" fn rmpsc_pool_set_len(p: *const rmpsc_pool_t, handle: u32, len: usize) -> c_int {
    call(|| pool(p)?.set_len(Handle::from_raw(handle), len))
}

/// The payload of a slab in place: `*data`, `*len` bytes (set by
/// rmpsc_pool_set_len). Errors: RMPSC_EINVAL (bad handle).
#[no_mangle]
pub extern "C" fn rmpsc_pool_get(
    p: *const rmpsc_pool_t,
    handle: u32,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    call(|| {
        non_null(data, "data")?;
        non_null(len, "len")?;
        let pool = pool(p)?;
        let h = Handle::from_raw(handle);
        let n = pool.len(h)?;
        let at = pool.slab_address(h)?;
        // SAFETY: non-NULL, writable by contract.
        unsafe {
            *data = at.as_ptr().cast_const().cast();
            *len = n;
        }
        Ok(())
    })
}

/// Free slabs (a diagnostic walk of the free list). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_available(p: *const rmpsc_pool_t) -> usize {
    call_infallible(0, || pool(p).map_or(0, |p| p.available_count()))
}

/// Number of slabs. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_capacity(p: *const rmpsc_pool_t) -> usize {
    call_infallible(0, || pool(p).map_or(0, |p| p.capacity()))
}

/// Bytes per slab. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_slab_size(p: *const rmpsc_pool_t) -> usize {
    call_infallible(0, || pool(p).map_or(0, |p| p.slab_size()))
}

/// Removes the name of a named shared pool. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_unlink(p: *const rmpsc_pool_t) -> c_int {
    call(|| match pool(p)?.segment() {
        Some(s) => s.unlink(),
        None => Err(Error::InvalidArgument("a heap pool has no name".into())),
    })
}

/// `unlink` true: remove the name of a named shared pool when this process
/// frees the pool handle, if the name still leads to this pool (anonymous
/// pools: nothing to do). Errors: RMPSC_EINVAL (a heap pool). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_unlink_on_drop(p: *const rmpsc_pool_t, unlink: bool) -> c_int {
    call(|| match pool(p)?.segment() {
        Some(s) => {
            s.set_unlink_on_drop(unlink);
            Ok(())
        }
        None => Err(Error::InvalidArgument("a heap pool has no name".into())),
    })
}
