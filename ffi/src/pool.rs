//! `rmpsc_pool_*`: the slab buffer pool, on the heap or in shared memory.

use crate::args::{dup_fd, duration, free_handle, handle, name, opt_name, Out};
use crate::shm::{permissions, rmpsc_permissions_t};
use crate::{call, call_infallible};
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
    Ok(&handle(p, "pool")?.pool)
}

/// A pool of `num_slabs` slabs of `slab_size` bytes on this process's heap. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_new(
    slab_size: usize,
    num_slabs: usize,
    out: *mut *mut rmpsc_pool_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        out.put(rmpsc_pool_t {
            pool: BufferPool::new(slab_size, num_slabs)?,
        });
        Ok(())
    })
}

/// A pool in shared memory: `name` as for rmpsc_shared_ring_create (NULL:
/// an anonymous memfd, shared with rmpsc_pool_fd). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_create(
    name: *const c_char,
    slab_size: usize,
    num_slabs: usize,
    out: *mut *mut rmpsc_pool_t,
) -> c_int {
    rmpsc_pool_create_with(name, slab_size, num_slabs, std::ptr::null(), out)
}

/// rmpsc_pool_create with the named segment's mode and group (`perm` NULL:
/// the defaults; see rmpsc_permissions_t). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_create_with(
    name: *const c_char,
    slab_size: usize,
    num_slabs: usize,
    perm: *const rmpsc_permissions_t,
    out: *mut *mut rmpsc_pool_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let pool = BufferPool::create_shared_with(
            opt_name(name)?,
            slab_size,
            num_slabs,
            permissions(perm),
        )?;
        out.put(rmpsc_pool_t { pool });
        Ok(())
    })
}

/// Opens a named shared pool, waiting up to `timeout_ns` for its name to
/// appear. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_attach(
    name: *const c_char,
    timeout_ns: i64,
    out: *mut *mut rmpsc_pool_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let pool = BufferPool::attach_shared(self::name(name)?, duration(timeout_ns))?;
        out.put(rmpsc_pool_t { pool });
        Ok(())
    })
}

/// Maps a shared pool from a descriptor (duplicated; the caller keeps
/// `fd`): a memfd whose size is sealed, as an anonymous shared pool is
/// made; any other file is RMPSC_EHEADER (its sender could shrink it under
/// the mapping). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_attach_fd(fd: c_int, out: *mut *mut rmpsc_pool_t) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        out.put(rmpsc_pool_t {
            pool: BufferPool::from_fd(dup_fd(fd)?)?,
        });
        Ok(())
    })
}

/// Frees the pool handle (a shared pool's memory lives on in other
/// processes). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_pool_free(p: *mut rmpsc_pool_t) {
    free_handle(p)
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

/// Takes a free slab; `*out_handle` is its 4-byte handle (send it through a
/// ring). Errors: RMPSC_EFULL (every slab in use), RMPSC_ECORRUPT. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_alloc(p: *mut rmpsc_pool_t, out_handle: *mut u32) -> c_int {
    call(|| {
        let out_handle = Out::new(out_handle, "out_handle")?;
        let h = pool(p)?.try_alloc()?.ok_or(Error::Full)?;
        out_handle.set(h.raw());
        Ok(())
    })
}

/// Returns a slab to the pool. A handle that is not allocated now (freed
/// twice, out of range, or of an earlier use of its slab) gives
/// RMPSC_EINVAL and changes nothing. Above its slab's number a handle
/// carries a stamp of its use count and its pool (8 bits for 2^24 slabs,
/// 22 for 1024): one of another pool is taken for a live one with odds of
/// one in 2^bits, and a stale one only after 2^bits uses of its slab.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_release(p: *mut rmpsc_pool_t, slab: u32) -> c_int {
    call(|| pool(p)?.free(Handle::from_raw(slab)))
}

/// The whole slab `slab`, writable in place: `*out_data`, `*out_capacity`
/// bytes. The handle's holder only. Errors: RMPSC_EINVAL (bad handle).
#[no_mangle]
pub extern "C" fn rmpsc_pool_get_writable(
    p: *const rmpsc_pool_t,
    slab: u32,
    out_data: *mut *mut c_void,
    out_capacity: *mut usize,
) -> c_int {
    call(|| {
        let out_data = Out::new(out_data, "out_data")?;
        let out_capacity = Out::new(out_capacity, "out_capacity")?;
        let pool = pool(p)?;
        let at = pool.slab_address(Handle::from_raw(slab))?;
        out_data.set(at.as_ptr().cast());
        out_capacity.set(pool.slab_size());
        Ok(())
    })
}

/// Sets the payload length of a slab (at most the slab size). Errors:
/// RMPSC_EINVAL, RMPSC_ETOOLARGE.
#[no_mangle]
pub extern "C" fn rmpsc_pool_set_len(p: *mut rmpsc_pool_t, slab: u32, len: usize) -> c_int {
    call(|| pool(p)?.set_len(Handle::from_raw(slab), len))
}

/// The payload of a slab in place: `*out_data`, `*out_len` bytes (set by
/// rmpsc_pool_set_len). Errors: RMPSC_EINVAL (bad handle).
#[no_mangle]
pub extern "C" fn rmpsc_pool_get(
    p: *const rmpsc_pool_t,
    slab: u32,
    out_data: *mut *const c_void,
    out_len: *mut usize,
) -> c_int {
    call(|| {
        let out_data = Out::new(out_data, "out_data")?;
        let out_len = Out::new(out_len, "out_len")?;
        let pool = pool(p)?;
        let h = Handle::from_raw(slab);
        let n = pool.len(h)?;
        let at = pool.slab_address(h)?;
        out_data.set(at.as_ptr().cast_const().cast());
        out_len.set(n);
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

fn no_name() -> Error {
    Error::InvalidArgument("a heap pool has no name".into())
}

/// Removes the name of a named shared pool. Errors: RMPSC_EINVAL (a heap
/// pool). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_unlink(p: *mut rmpsc_pool_t) -> c_int {
    call(|| pool(p)?.segment().ok_or_else(no_name)?.unlink())
}

/// `unlink` true: remove the name of a named shared pool when this process
/// frees the pool handle, if the name still leads to this pool (anonymous
/// pools: nothing to do). Errors: RMPSC_EINVAL (a heap pool). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_pool_unlink_on_drop(p: *mut rmpsc_pool_t, unlink: bool) -> c_int {
    call(|| {
        pool(p)?
            .segment()
            .ok_or_else(no_name)?
            .set_unlink_on_drop(unlink);
        Ok(())
    })
}
