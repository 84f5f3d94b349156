//! Shared mappings of files and memfds, made with `memmap2`, and anonymous
//! memory placed on a NUMA node (raw `mmap` and `mbind` there: a NUMA
//! mapping is handed to C and taken back by address, which `memmap2`
//! cannot do, and `mbind` has no wrapper).

use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

/// A `MAP_SHARED` mapping of a whole file from offset 0, unmapped on drop.
pub(crate) struct Mapping {
    /// Dropped first: the range is unregistered before it is unmapped.
    guard: Option<super::sigbus::Guard>,
    map: memmap2::MmapRaw,
}

impl Mapping {
    /// Maps `len` bytes of `fd` for reading and writing.
    pub(crate) fn shared(fd: BorrowedFd<'_>, len: usize) -> std::io::Result<Mapping> {
        Ok(Mapping {
            guard: None,
            map: memmap2::MmapOptions::new()
                .len(len)
                .map_raw(fd.as_raw_fd())?,
        })
    }

    /// Maps `len` bytes of `fd` for reading only.
    pub(crate) fn shared_read_only(fd: BorrowedFd<'_>, len: usize) -> std::io::Result<Mapping> {
        Ok(Mapping {
            guard: None,
            map: memmap2::MmapOptions::new()
                .len(len)
                .map_raw_read_only(fd.as_raw_fd())?,
        })
    }

    /// Maps `len` bytes of `fd` for reading only, guarded against the file
    /// being shrunk under it ([`sigbus`](super::sigbus)): a read past the
    /// new end sees zeros and [`faulted`](Self::faulted) turns true,
    /// instead of the process dying of `SIGBUS`. For inspecting files
    /// other processes own.
    pub(crate) fn inspect(fd: BorrowedFd<'_>, len: usize) -> std::io::Result<Mapping> {
        Ok(Self::shared_read_only(fd, len)?.guarded(false))
    }

    /// This mapping with its range guarded as [`inspect`](Self::inspect)'s
    /// is: for the log's own mappings of files another process could
    /// shrink. `writable`: it was mapped for writing.
    pub(crate) fn guarded(mut self, writable: bool) -> Mapping {
        self.guard = Some(super::sigbus::Guard::new(
            self.base().as_ptr() as usize,
            self.len(),
            writable,
        ));
        self
    }

    /// This writable mapping of `fd` guarded against the file being shrunk
    /// under it ([`Guard::past_end`](super::sigbus::Guard::past_end)): an
    /// access past the new end sees zeros and [`faulted`](Self::faulted)
    /// turns true; a fault inside the file is not repaired.
    pub(crate) fn guarded_past_end(mut self, fd: BorrowedFd<'_>) -> std::io::Result<Mapping> {
        self.guard = Some(super::sigbus::Guard::past_end(
            self.base().as_ptr() as usize,
            self.len(),
            fd,
        )?);
        Ok(self)
    }

    /// Where [`guarded_past_end`](Self::guarded_past_end), sets the `u32` at
    /// `offset` (in the first page) to 1 when a truncation is repaired.
    pub(crate) fn mark_on_truncation(&self, offset: usize) {
        if let Some(g) = &self.guard {
            g.mark_on_truncation(offset);
        }
    }

    /// Whether an access to a guarded mapping (an
    /// [`inspect`](Self::inspect) one, or one made [`guarded`](Self::guarded))
    /// went past the end of its file (which was shrunk after it was mapped).
    #[inline]
    pub(crate) fn faulted(&self) -> bool {
        self.guard
            .as_ref()
            .is_some_and(super::sigbus::Guard::faulted)
    }

    /// The first byte (page-aligned).
    #[inline]
    pub(crate) fn base(&self) -> NonNull<u8> {
        NonNull::new(self.map.as_mut_ptr()).expect("a mapping is never at address 0")
    }

    /// Mapped bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Faults in the pages covering `len` bytes from `from` for writing
    /// (`MADV_POPULATE_WRITE`); false where the kernel cannot (before
    /// Linux 5.14).
    pub(crate) fn populate_write(&self, from: usize, len: usize) -> bool {
        self.map
            .advise_range(memmap2::Advice::PopulateWrite, from, len)
            .is_ok()
    }

    /// Writes the pages covering `len` bytes from `from` to storage (`msync`).
    pub(crate) fn sync(&self, from: usize, len: usize) -> std::io::Result<()> {
        self.map.flush_range(from, len)
    }
}

/// Maps `len` bytes (a multiple of the page size) of private, zeroed,
/// anonymous memory; give it back with [`unmap_anonymous`].
pub(crate) fn map_anonymous(len: usize) -> std::io::Result<NonNull<u8>> {
    // SAFETY: a fresh private anonymous mapping; the kernel picks the address.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(NonNull::new(p.cast()).expect("mmap never returns NULL on success"))
}

/// Unmaps memory from [`map_anonymous`].
///
/// # Safety
/// `ptr` and `len` are one mapping of `map_anonymous`, unmapped once, and
/// nothing uses it afterwards.
pub(crate) unsafe fn unmap_anonymous(ptr: NonNull<u8>, len: usize) {
    // SAFETY: by the contract above.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

/// Asks the kernel to keep the pages of `[start, start + len)` (page-aligned)
/// on `node` (below 64): `MPOL_PREFERRED` with page migration.
pub(crate) fn prefer_node(start: usize, len: usize, node: usize) -> std::io::Result<()> {
    const MPOL_PREFERRED: libc::c_int = 1;
    const MPOL_MF_MOVE: libc::c_uint = 1 << 1;
    debug_assert!(node < 64);
    let mask: libc::c_ulong = 1 << node;
    // SAFETY: mbind only changes the policy of pages in the range; it reads
    // the one-word node mask on our stack.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mbind,
            start,
            len,
            MPOL_PREFERRED,
            &mask as *const libc::c_ulong,
            64 as libc::c_ulong,
            MPOL_MF_MOVE,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
