//! Slab buffer pool for zero-copy large messages: payloads live in fixed-size
//! slabs and only a 4-byte [`Handle`] travels through a ring.
//!
//! The free list is a lock-free stack whose head packs a 32-bit tag with the
//! 32-bit slab index in one `u64`: every push and pop bumps the tag, so a
//! head that was popped and pushed back between a thread's read and its CAS
//! no longer compares equal (no ABA). The same code runs over heap memory
//! and over a shared-memory segment (everything is an index or an offset,
//! never a pointer), and every index read from memory is checked.
//!
//! # Layout (one area; in a segment it starts at the data offset)
//!
//! ```text
//! offset                 size             content
//! 0                      128              head: u64 (tag << 32 | index), salt: u32 at 8,
//!                                         rest reserved
//! 128                    16 * slabs       per slab: next u32, state u32, len u32, reserved u32
//!                                         (padded to a multiple of 128)
//! meta_end               stride * slabs   slab data; stride = slab_size rounded up to 64
//! ```
//!
//! A slab's `state` is `generation << 1 | allocated`. A handle is
//! `stamp << index_bits | index`, where `index_bits` is what the pool's
//! slab numbers need (0 to 24) and the stamp is `generation + salt` cut to
//! the other bits (8 to 32): a handle that was freed, a forged one or one
//! of another pool is refused instead of touching a slab someone else owns.
//! The salt, drawn when the pool is made and kept in its head line, makes
//! two pools' stamps differ: without it every fresh pool would hand out the
//! same handles. A stale handle is taken for a live one only after
//! `2^(32 - index_bits)` uses of its slab (2^31 for one slab: the use count
//! has 31 bits), and one of another pool with the odds of one in as many.

use crate::error::{Error, Result};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use std::ptr::NonNull;
use std::sync::Arc;

/// No slab: the end of the free list.
const NIL: u32 = u32::MAX;
/// Most slabs a pool can have (the handle keeps 24 bits for the index).
pub const MAX_SLABS: u32 = 1 << 24;
const HEAD_BYTES: usize = 128;
const META_BYTES: usize = 16;

/// A slab, as a 4-byte value that can travel through a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Handle(u32);

// SAFETY: a transparent u32.
unsafe impl crate::pod::Pod for Handle {}

impl Handle {
    /// The raw value, for sending through a byte ring or another language.
    pub fn raw(self) -> u32 {
        self.0
    }
    /// A handle from its raw value; the pool checks it on every use.
    pub fn from_raw(raw: u32) -> Handle {
        Handle(raw)
    }
}

#[repr(C, align(128))]
pub(crate) struct PoolHead {
    head: AtomicU64,
    /// Added to every slab's generation in its handles; written once by
    /// the creator, read once by each mapping.
    salt: AtomicU32,
}

/// How a pool packs a slab's index and its stamp into a [`Handle`].
#[derive(Debug, Clone, Copy)]
struct Stamps {
    /// Bits of the slab index: what `slabs - 1` needs.
    index_bits: u32,
    salt: u32,
}

impl Stamps {
    fn new(slabs: u32, salt: u32) -> Stamps {
        Stamps {
            index_bits: u32::BITS - (slabs - 1).leading_zeros(),
            salt,
        }
    }

    /// The stamp of a slab at `generation`, cut to the bits above the index.
    fn stamp(self, generation: u32) -> u32 {
        generation.wrapping_add(self.salt) & (u32::MAX >> self.index_bits)
    }

    fn handle(self, index: u32, generation: u32) -> Handle {
        Handle(self.stamp(generation) << self.index_bits | index)
    }

    /// The slab index and the stamp of `h`.
    fn split(self, h: Handle) -> (u32, u32) {
        (h.0 & ((1 << self.index_bits) - 1), h.0 >> self.index_bits)
    }
}

/// A salt for a new pool: a random start for this process (forked ones
/// included), then steps of an odd constant, so that pools made one after
/// the other in a process never share a salt, whatever the stamp's width.
fn new_salt() -> u32 {
    use std::hash::BuildHasher;
    use std::sync::atomic::AtomicU32 as StdAtomicU32;
    use std::sync::OnceLock;
    static KEYS: OnceLock<std::hash::RandomState> = OnceLock::new();
    static MADE: StdAtomicU32 = StdAtomicU32::new(0);
    // The process id in every call: a child forked after a pool was made
    // inherits the keys and the count, not the start.
    let start = KEYS
        .get_or_init(std::hash::RandomState::new)
        .hash_one(std::process::id()) as u32;
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    start.wrapping_add(n.wrapping_mul(0x9e37_79b9))
}

#[repr(C)]
pub(crate) struct SlabMeta {
    next: AtomicU32,
    state: AtomicU32,
    len: AtomicU32,
    _reserved: AtomicU32,
}

/// Copies `src` into the slab at `dst` by relaxed atomic stores, a word at
/// a time. A handle is `Copy`, so safe code can write one slab from two
/// threads at once (or read it while another writes): on atomics that
/// tears the bytes but is no undefined behaviour, as a plain copy would be.
///
/// # Safety
/// `dst` is 8-byte aligned and valid for `src.len()` bytes, and every
/// access to them is through atomics or outside Rust (another process).
unsafe fn store_bytes(dst: *mut u8, src: &[u8]) {
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
    let whole = src.len() / 8 * 8;
    let (words, tail) = src.split_at(whole);
    for (i, w) in words.chunks_exact(8).enumerate() {
        let v = u64::from_ne_bytes(w.try_into().expect("8 bytes"));
        // SAFETY: aligned and in range (the contract).
        unsafe { AtomicU64::from_ptr(dst.add(i * 8).cast()) }.store(v, Relaxed);
    }
    for (i, &b) in tail.iter().enumerate() {
        // SAFETY: in range (the contract).
        unsafe { AtomicU8::from_ptr(dst.add(whole + i)) }.store(b, Relaxed);
    }
}

/// [`store_bytes`]' reverse: fills `out` from the slab at `src`.
///
/// # Safety
/// As for [`store_bytes`], for `out.len()` bytes at `src`.
unsafe fn load_bytes(src: *const u8, out: &mut [u8]) {
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
    let whole = out.len() / 8 * 8;
    let (words, tail) = out.split_at_mut(whole);
    for (i, w) in words.chunks_exact_mut(8).enumerate() {
        // SAFETY: aligned and in range (the contract).
        let v = unsafe { AtomicU64::from_ptr(src.add(i * 8).cast_mut().cast()) }.load(Relaxed);
        w.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in tail.iter_mut().enumerate() {
        // SAFETY: in range (the contract).
        *b = unsafe { AtomicU8::from_ptr(src.add(whole + i).cast_mut()) }.load(Relaxed);
    }
}

fn stride(slab_size: u32) -> u64 {
    (slab_size as u64).div_ceil(64) * 64
}

fn meta_end(slabs: u32) -> u64 {
    (HEAD_BYTES as u64 + META_BYTES as u64 * slabs as u64).div_ceil(128) * 128
}

/// Bytes of a pool area of `slabs` slabs of `slab_size` bytes; `None` when
/// out of range.
pub(crate) fn layout_size(slabs: u32, slab_size: u32) -> Option<u64> {
    if slabs == 0 || slabs > MAX_SLABS || slab_size == 0 {
        return None;
    }
    meta_end(slabs)
        .checked_add(stride(slab_size).checked_mul(slabs as u64)?)
        .filter(|&n| n <= isize::MAX as u64 / 2)
}

fn pack(tag: u32, index: u32) -> u64 {
    (tag as u64) << 32 | index as u64
}

fn unpack(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// A lock-free pool of `capacity()` slabs of `slab_size()` bytes.
///
/// `alloc`/`free` are lock-free from any number of threads (and processes,
/// for a shared pool). Whoever holds a handle owns its slab until it is
/// freed or handed on.
///
/// ```
/// use ringcore::{BufferPool, Config, Ring};
/// let pool = BufferPool::new(4096, 64)?;
/// let (mut tx, mut rx) = Ring::new(Config::with_ring_bits(6))?;
/// let h = pool.alloc().expect("a free slab");
/// pool.write(h, b"a large payload, written once")?;
/// tx.send_one(h).unwrap();                    // 4 bytes through the ring
/// let h = rx.try_recv()?;
/// let mut out = [0u8; 64];
/// let n = pool.read_into(h, &mut out)?;
/// assert_eq!(&out[..n], b"a large payload, written once");
/// pool.free(h)?;
/// assert!(pool.free(h).is_err());             // a freed handle is refused
/// # Ok::<(), ringcore::Error>(())
/// ```
#[derive(Clone)]
pub struct BufferPool {
    head: NonNull<PoolHead>,
    metas: NonNull<SlabMeta>,
    data: NonNull<u8>,
    slabs: u32,
    slab_size: u32,
    stamps: Stamps,
    _owner: Arc<dyn Send + Sync>,
    #[cfg(not(loom))]
    segment: Option<Arc<crate::shm::Segment>>,
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferPool")
            .field("slabs", &self.slabs)
            .field("slab_size", &self.slab_size)
            .field("available", &self.available_count())
            .finish_non_exhaustive()
    }
}

// SAFETY: every shared field is an atomic; slab bytes are reached only
// through handles, whose holder owns the slab.
unsafe impl Send for BufferPool {}
// SAFETY: as above.
unsafe impl Sync for BufferPool {}

/// Heap memory of a pool.
/// Heap memory of a pool. The head and metadata are leaked boxes (raw
/// pointers, because the pool's copies of the addresses alias them) and are
/// rebuilt into boxes to be freed.
struct HeapPool {
    head: NonNull<PoolHead>,
    metas: NonNull<[SlabMeta]>,
    data: NonNull<u8>,
    layout: std::alloc::Layout,
}

// SAFETY: owned allocations, reached only through the pool's atomics and handles.
unsafe impl Send for HeapPool {}
// SAFETY: as above.
unsafe impl Sync for HeapPool {}

impl Drop for HeapPool {
    fn drop(&mut self) {
        // SAFETY: allocated in BufferPool::new with this layout; the boxes
        // were leaked there and no pool copy is left.
        unsafe {
            std::alloc::dealloc(self.data.as_ptr(), self.layout);
            drop(Box::from_raw(self.head.as_ptr()));
            drop(Box::from_raw(self.metas.as_ptr()));
        }
    }
}

impl BufferPool {
    /// A pool of `num_slabs` slabs of `slab_size` bytes on the heap.
    pub fn new(slab_size: usize, num_slabs: usize) -> Result<BufferPool> {
        let (slab_size, slabs) = check_geometry(slab_size, num_slabs)?;
        let bytes = (stride(slab_size) * slabs as u64) as usize;
        let layout = std::alloc::Layout::from_size_align(bytes, 128)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        // SAFETY: bytes > 0 (slabs and slab_size are at least 1).
        let data = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).ok_or_else(|| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                "cannot allocate the pool",
            ))
        })?;
        let head = NonNull::from(Box::leak(Box::new(PoolHead {
            head: AtomicU64::new(0),
            salt: AtomicU32::new(0),
        })));
        let metas: Box<[SlabMeta]> = (0..slabs)
            .map(|_| SlabMeta {
                next: AtomicU32::new(0),
                state: AtomicU32::new(0),
                len: AtomicU32::new(0),
                _reserved: AtomicU32::new(0),
            })
            .collect();
        let metas = NonNull::from(Box::leak(metas));
        let mut pool = BufferPool {
            head,
            metas: metas.cast(),
            data,
            slabs,
            slab_size,
            stamps: Stamps::new(slabs, 0),
            _owner: Arc::new(HeapPool {
                head,
                metas,
                data,
                layout,
            }),
            #[cfg(not(loom))]
            segment: None,
        };
        pool.init();
        Ok(pool)
    }

    /// A pool over the data area of a pool segment, once its header's
    /// slab count and size are checked against the data area's size.
    #[cfg(not(loom))]
    fn over_segment(m: &crate::shm::Mapped) -> Result<BufferPool> {
        let g = &m.geometry;
        let (slabs, slab_size) = (g.slab_count, g.slot_size);
        if slab_size == 0 || slabs == 0 || layout_size(slabs, slab_size) != Some(g.data_size) {
            return Err(Error::InvalidHeader(format!(
                "inconsistent pool layout: {slabs} slabs of {slab_size} bytes in {} bytes",
                g.data_size
            )));
        }
        let area = m.data();
        let head = area.cast::<PoolHead>();
        // SAFETY: the head line is the start of the data area (checked
        // above to hold the whole layout); it is made of atomics.
        let salt = unsafe { head.as_ref() }.salt.load(Ordering::Relaxed);
        Ok(BufferPool {
            head,
            // SAFETY: the data area holds layout_size(slabs, slab_size)
            // bytes (checked above against the validated file size), so
            // the metadata and the slabs lie inside it.
            metas: unsafe { area.add(HEAD_BYTES).cast() },
            // SAFETY: as above.
            data: unsafe { area.add(meta_end(slabs) as usize) },
            slabs,
            slab_size,
            stamps: Stamps::new(slabs, salt),
            _owner: m.segment.clone(),
            segment: Some(m.segment.clone()),
        })
    }

    /// A pool in shared memory: a named segment (under `/dev/shm` for a bare
    /// name) or, with `None`, an anonymous sealed memfd to pass by descriptor.
    /// Processes in any language attach to it by name (or descriptor) and
    /// exchange handles through a [`SharedRing`](crate::shm::SharedRing).
    #[cfg(not(loom))]
    pub fn create_shared(
        name: Option<&str>,
        slab_size: usize,
        num_slabs: usize,
    ) -> Result<BufferPool> {
        Self::create_shared_with(name, slab_size, num_slabs, Default::default())
    }

    /// [`create_shared`](Self::create_shared) with the named segment's mode
    /// and group.
    #[cfg(not(loom))]
    pub fn create_shared_with(
        name: Option<&str>,
        slab_size: usize,
        num_slabs: usize,
        perm: crate::shm::Permissions,
    ) -> Result<BufferPool> {
        use crate::shm::layout::{Geometry, Kind};
        let (slab_size, slabs) = check_geometry(slab_size, num_slabs)?;
        let g = Geometry {
            kind: Kind::Pool,
            ring_bits: 0,
            slot_size: slab_size,
            slab_count: slabs,
            data_size: layout_size(slabs, slab_size).expect("checked by check_geometry"),
        };
        let mut pool = None;
        crate::shm::Mapped::create_with(name, g, perm, |m| {
            pool = Some(Self::over_segment(m).map(|mut p| {
                p.init();
                p
            }));
        })?;
        pool.expect("init ran")
    }

    /// Opens a named shared pool, waiting up to `timeout` for its name to
    /// appear (a segment appears whole; a bad one fails at once).
    #[cfg(not(loom))]
    pub fn attach_shared(name: &str, timeout: std::time::Duration) -> Result<BufferPool> {
        let m = crate::shm::Mapped::open(name, crate::shm::layout::Kind::Pool, None, timeout)?;
        Self::over_segment(&m)
    }

    /// Maps a shared pool received as a descriptor: a memfd whose size is
    /// sealed, as [`create_shared`](Self::create_shared) makes them
    /// (`InvalidHeader` for any other file: its sender could shrink it
    /// under the mapping).
    #[cfg(not(loom))]
    pub fn from_fd(fd: std::os::fd::OwnedFd) -> Result<BufferPool> {
        let m = crate::shm::Mapped::from_sealed_fd(fd, crate::shm::layout::Kind::Pool, None)?;
        Self::over_segment(&m)
    }

    /// The segment of a shared pool (`None` for a heap pool).
    #[cfg(not(loom))]
    pub fn segment(&self) -> Option<&crate::shm::Segment> {
        self.segment.as_deref()
    }

    /// Links every slab into the free list and draws the salt (a fresh,
    /// zeroed pool).
    fn init(&mut self) {
        for i in 0..self.slabs {
            let next = if i + 1 < self.slabs { i + 1 } else { NIL };
            self.meta(i).next.store(next, Ordering::Relaxed);
        }
        self.stamps = Stamps::new(self.slabs, new_salt());
        self.head().salt.store(self.stamps.salt, Ordering::Relaxed);
        // Release: the links and the salt above are visible to whoever
        // pops (a mapping of a segment reads the salt after the segment's
        // own Release of its ready state).
        self.head().head.store(pack(0, 0), Ordering::Release);
    }

    fn head(&self) -> &PoolHead {
        // SAFETY: valid for the pool's lifetime (owner keeps it alive).
        unsafe { self.head.as_ref() }
    }

    fn meta(&self, i: u32) -> &SlabMeta {
        debug_assert!(i < self.slabs);
        // SAFETY: i < slabs, inside the metadata array.
        unsafe { self.metas.add(i as usize).as_ref() }
    }

    /// Number of slabs.
    pub fn capacity(&self) -> usize {
        self.slabs as usize
    }

    /// Bytes per slab.
    pub fn slab_size(&self) -> usize {
        self.slab_size as usize
    }

    /// Takes a free slab; `None` when every slab is in use. A corrupt free
    /// list (shared memory scribbled by a peer) also gives `None`; see
    /// [`try_alloc`](Self::try_alloc) for the reason.
    pub fn alloc(&self) -> Option<Handle> {
        self.try_alloc().ok().flatten()
    }

    /// [`alloc`](Self::alloc) that reports a corrupt free list as an error.
    pub fn try_alloc(&self) -> Result<Option<Handle>> {
        let popped = self.pop();
        self.check_not_truncated()?;
        popped
    }

    /// `Corrupt` once the pool's segment was truncated under this process:
    /// its memory reads as zeros since (and writes go nowhere).
    fn check_not_truncated(&self) -> Result<()> {
        #[cfg(not(loom))]
        if self.segment.as_ref().is_some_and(|s| s.truncated()) {
            return Err(corrupt(
                "its segment's file was truncated under this process's mapping".into(),
            ));
        }
        Ok(())
    }

    fn pop(&self) -> Result<Option<Handle>> {
        let head = &self.head().head;
        // Acquire pairs with the Release of the CAS in `free`: the slab's
        // `next` link written before its push is visible.
        let mut cur = head.load(Ordering::Acquire);
        loop {
            let (tag, index) = unpack(cur);
            if index == NIL {
                return Ok(None);
            }
            if index >= self.slabs {
                return Err(corrupt(format!("free-list head points at slab {index}")));
            }
            let next = self.meta(index).next.load(Ordering::Relaxed);
            if next != NIL && next >= self.slabs {
                return Err(corrupt(format!("slab {index} links to slab {next}")));
            }
            match head.compare_exchange_weak(
                cur,
                pack(tag.wrapping_add(1), next),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return self.mark_allocated(index).map(Some),
                Err(now) => cur = now,
            }
        }
    }

    fn mark_allocated(&self, index: u32) -> Result<Handle> {
        let m = self.meta(index);
        let state = m.state.load(Ordering::Acquire);
        if state & 1 != 0 {
            return Err(corrupt(format!(
                "slab {index} was on the free list while allocated"
            )));
        }
        let generation = (state >> 1).wrapping_add(1) & 0x7fff_ffff;
        m.len.store(0, Ordering::Relaxed);
        if m.state
            .compare_exchange(
                state,
                generation << 1 | 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return Err(corrupt(format!(
                "slab {index} changed state during allocation"
            )));
        }
        Ok(self.stamps.handle(index, generation))
    }

    /// Checks that `h` names an allocated slab of this pool; returns its index.
    fn check(&self, h: Handle) -> Result<u32> {
        let (index, stamp) = self.stamps.split(h);
        if index >= self.slabs {
            return Err(Error::InvalidArgument(format!(
                "handle {:#010x} names slab {index}, the pool has {}",
                h.0, self.slabs
            )));
        }
        let state = self.meta(index).state.load(Ordering::Acquire);
        if !self.holds(state, stamp) {
            self.check_not_truncated()?;
            return Err(Error::InvalidArgument(format!(
                "handle {:#010x} is not allocated (freed, stale or foreign)",
                h.0
            )));
        }
        Ok(index)
    }

    /// Whether a slab in `state` is allocated to a handle stamped `stamp`.
    fn holds(&self, state: u32, stamp: u32) -> bool {
        state & 1 != 0 && self.stamps.stamp(state >> 1) == stamp
    }

    /// Returns a slab to the pool. A handle that is not allocated (already
    /// freed, stale, or from elsewhere) gives `InvalidArgument` and changes nothing.
    pub fn free(&self, h: Handle) -> Result<()> {
        let index = self.check(h)?;
        let m = self.meta(index);
        let state = m.state.load(Ordering::Acquire);
        // Only one of two racing frees of the same handle wins this CAS:
        // the loser's load sees the slab free (or the CAS fails).
        if !self.holds(state, self.stamps.split(h).1)
            || m.state
                .compare_exchange(state, state & !1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Err(Error::InvalidArgument(format!(
                "handle {:#010x} was freed concurrently",
                h.0
            )));
        }
        let head = &self.head().head;
        let mut cur = head.load(Ordering::Relaxed);
        loop {
            let (tag, top) = unpack(cur);
            m.next.store(top, Ordering::Relaxed);
            // Release: the `next` link and the slab's contents precede the push.
            match head.compare_exchange_weak(
                cur,
                pack(tag.wrapping_add(1), index),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
    }

    /// Sets the payload length of a slab (at most `slab_size`).
    pub fn set_len(&self, h: Handle, len: usize) -> Result<()> {
        let index = self.check(h)?;
        if len > self.slab_size as usize {
            return Err(Error::TooLarge {
                len,
                max: self.slab_size as usize,
            });
        }
        // Release: a reader that loads the length sees the bytes written before.
        self.meta(index).len.store(len as u32, Ordering::Release);
        Ok(())
    }

    /// The payload length of a slab (clamped to the slab size).
    pub fn len(&self, h: Handle) -> Result<usize> {
        let index = self.check(h)?;
        Ok((self.meta(index).len.load(Ordering::Acquire) as usize).min(self.slab_size as usize))
    }

    fn slab_ptr(&self, index: u32) -> *mut u8 {
        // SAFETY: index < slabs, so the slab lies inside the data area.
        unsafe {
            self.data
                .as_ptr()
                .add(index as usize * stride(self.slab_size) as usize)
        }
    }

    /// Copies `bytes` into the slab and sets its length.
    pub fn write(&self, h: Handle, bytes: &[u8]) -> Result<()> {
        let index = self.check(h)?;
        if bytes.len() > self.slab_size as usize {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: self.slab_size as usize,
            });
        }
        // SAFETY: the slab is allocated, 64-byte aligned and at least
        // `bytes.len()` long (checked above).
        unsafe { store_bytes(self.slab_ptr(index), bytes) };
        self.check_not_truncated()?;
        self.set_len(h, bytes.len())
    }

    /// Copies the payload into `out` (at most `out.len()` bytes); returns the
    /// payload length.
    pub fn read_into(&self, h: Handle, out: &mut [u8]) -> Result<usize> {
        let len = self.len(h)?;
        let n = len.min(out.len());
        let index = self.stamps.split(h).0;
        // SAFETY: the slab is allocated and 64-byte aligned; n <= len <=
        // slab_size.
        unsafe { load_bytes(self.slab_ptr(index), &mut out[..n]) };
        self.check_not_truncated()?;
        Ok(len)
    }

    /// The payload in place (length set by [`set_len`](Self::set_len)).
    ///
    /// # Safety
    /// The caller holds `h` and nobody writes the slab while the slice lives.
    pub unsafe fn get(&self, h: Handle) -> Result<&[u8]> {
        let len = self.len(h)?;
        // SAFETY: allocated slab of at least `len` bytes; exclusivity by contract.
        Ok(unsafe { std::slice::from_raw_parts(self.slab_ptr(self.stamps.split(h).0), len) })
    }

    /// The whole slab, writable in place.
    ///
    /// # Safety
    /// The caller holds `h` and no other reference to the slab exists while
    /// the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_writable(&self, h: Handle) -> Result<&mut [u8]> {
        let index = self.check(h)?;
        // SAFETY: allocated slab; exclusivity by contract.
        Ok(
            unsafe {
                std::slice::from_raw_parts_mut(self.slab_ptr(index), self.slab_size as usize)
            },
        )
    }

    /// Address of the slab of `h` (checked), for zero-copy views in bindings.
    pub fn slab_address(&self, h: Handle) -> Result<NonNull<u8>> {
        let index = self.check(h)?;
        Ok(NonNull::new(self.slab_ptr(index)).expect("inside a non-null area"))
    }

    /// Free slabs, counted by walking the free list (diagnostics only;
    /// bounded by the capacity even if the list is corrupt).
    pub fn available_count(&self) -> usize {
        let (_, mut index) = unpack(self.head().head.load(Ordering::Acquire));
        let mut n = 0;
        while index != NIL && index < self.slabs && n < self.slabs as usize {
            n += 1;
            index = self.meta(index).next.load(Ordering::Relaxed);
        }
        n
    }

    /// Bytes of memory the pool uses.
    pub fn total_memory(&self) -> usize {
        layout_size(self.slabs, self.slab_size).unwrap_or(0) as usize
    }
}

fn corrupt(m: String) -> Error {
    Error::Corrupt(format!("buffer pool: {m}"))
}

/// How many of a pool area's `slabs` slabs are marked allocated, read from
/// `area` with loads only (an inspector's read-only view); `None` when
/// `area_len` is not the layout of `slabs` slabs of `slab_size` bytes.
///
/// # Safety
/// `area` points to `area_len` readable bytes that stay mapped during the call.
#[cfg(not(loom))]
pub(crate) unsafe fn allocated_slabs(
    area: NonNull<u8>,
    area_len: u64,
    slabs: u32,
    slab_size: u32,
) -> Option<u32> {
    if layout_size(slabs, slab_size) != Some(area_len) {
        return None;
    }
    // SAFETY: the metadata array lies inside the area (layout checked
    // above); SlabMeta is made of atomics, valid for any bits.
    let metas = unsafe { area.add(HEAD_BYTES).cast::<SlabMeta>() };
    let allocated = (0..slabs)
        .filter(|&i| {
            // SAFETY: i < slabs, inside the metadata array.
            let meta = unsafe { metas.add(i as usize).as_ref() };
            meta.state.load(Ordering::Relaxed) & 1 != 0
        })
        .count();
    Some(allocated as u32)
}

pub(crate) fn check_geometry(slab_size: usize, num_slabs: usize) -> Result<(u32, u32)> {
    let slab = u32::try_from(slab_size)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| Error::InvalidArgument(format!("slab size {slab_size}")))?;
    let slabs = u32::try_from(num_slabs)
        .ok()
        .filter(|&n| n > 0 && n <= MAX_SLABS)
        .ok_or_else(|| {
            Error::InvalidArgument(format!("{num_slabs} slabs (1 to {MAX_SLABS} allowed)"))
        })?;
    layout_size(slabs, slab).ok_or_else(|| Error::InvalidArgument("pool too large".into()))?;
    Ok((slab, slabs))
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;

    /// Threads allocating and freeing around each other never get the same
    /// slab at once, and never see a corrupt list: the classic ABA schedule
    /// (one thread reads head A and its next B; the other pops A and B and
    /// pushes A back) is defeated by the tag in the head word.
    #[test]
    fn loom_free_list_never_hands_a_slab_to_two_owners() {
        loom::model(|| {
            let pool = BufferPool::new(8, 2).unwrap();
            let owned: Arc<Vec<AtomicBool>> =
                Arc::new((0..2).map(|_| AtomicBool::new(false)).collect());
            let take = |pool: &BufferPool, owned: &[AtomicBool]| {
                let h = pool.try_alloc().expect("the free list stays consistent");
                if let Some(h) = h {
                    let slab = pool.stamps.split(h).0 as usize;
                    assert!(
                        !owned[slab].swap(true, Ordering::AcqRel),
                        "slab {slab} given twice"
                    );
                }
                h
            };
            let give = |pool: &BufferPool, owned: &[AtomicBool], h: Handle| {
                owned[pool.stamps.split(h).0 as usize].store(false, Ordering::Release);
                pool.free(h).unwrap();
            };
            let other = {
                let (pool, owned) = (pool.clone(), owned.clone());
                thread::spawn(move || {
                    if let Some(h) = take(&pool, &owned) {
                        give(&pool, &owned, h);
                    }
                })
            };
            let a = take(&pool, &owned);
            let b = take(&pool, &owned);
            if let Some(a) = a {
                give(&pool, &owned, a);
            }
            other.join().unwrap();
            if let Some(b) = b {
                give(&pool, &owned, b);
            }
            // Exactly the two slabs come back out, then the pool is empty.
            let x = take(&pool, &owned).expect("two free slabs");
            let y = take(&pool, &owned).expect("two free slabs");
            assert!(pool.try_alloc().expect("consistent").is_none());
            give(&pool, &owned, x);
            give(&pool, &owned, y);
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stamps_take_the_bits_the_index_leaves() {
        let bits = |slabs| Stamps::new(slabs, 0).index_bits;
        assert_eq!(
            [bits(1), bits(2), bits(3), bits(4), bits(5)],
            [0, 1, 2, 2, 3]
        );
        assert_eq!(bits(MAX_SLABS), 24);
        for (slabs, index) in [(1, 0), (3, 2), (1000, 999), (MAX_SLABS, MAX_SLABS - 1)] {
            let s = Stamps::new(slabs, 0xdead_beef);
            for generation in [0, 1, 0x7fff_ffff] {
                let h = s.handle(index, generation);
                assert_eq!(s.split(h), (index, s.stamp(generation)));
            }
        }
        // A one-slab pool stamps with all 32 bits (of a 31-bit use count
        // plus the salt), the largest with 8.
        assert_eq!(Stamps::new(1, 5).handle(0, 1).raw(), 6);
        assert_eq!(
            Stamps::new(MAX_SLABS, 0).handle(7, 0x1ff).raw(),
            0xff << 24 | 7
        );
    }

    #[test]
    fn pools_made_in_turn_get_different_salts() {
        let salts: Vec<u32> = (0..64).map(|_| new_salt()).collect();
        for k in [12, 20, 32] {
            let mut cut: Vec<u32> = salts.iter().map(|s| s & (u32::MAX >> (32 - k))).collect();
            cut.sort_unstable();
            cut.dedup();
            assert_eq!(cut.len(), 64, "salts cut to {k} bits");
        }
    }

    /// A handle is `Copy`: safe code can write one slab from two threads
    /// while a third reads it. The copies are atomic (run under Miri, this
    /// is no data race); what is read is some whole write's bytes or a mix
    /// of them, of the length last set.
    #[test]
    fn one_slab_written_and_read_from_three_threads_at_once() {
        let pool = BufferPool::new(21, 1).unwrap();
        let h = pool.alloc().unwrap();
        let rounds = if cfg!(miri) { 20 } else { 2000 };
        std::thread::scope(|s| {
            for fill in [1u8, 2] {
                let pool = &pool;
                s.spawn(move || {
                    for _ in 0..rounds {
                        pool.write(h, &[fill; 21]).unwrap();
                    }
                });
            }
            let mut out = [0u8; 21];
            for _ in 0..rounds {
                let n = pool.read_into(h, &mut out).unwrap();
                assert!(n == 0 || n == 21);
                assert!(out[..n].iter().all(|&b| b == 1 || b == 2), "{out:?}");
            }
        });
        let mut out = [0u8; 21];
        assert_eq!(pool.read_into(h, &mut out).unwrap(), 21);
    }
}
