//! Small helpers several test binaries share: a deterministic random
//! source and a counter another process can read.

use std::path::Path;
use std::sync::atomic::AtomicU64;

/// A small deterministic random source (xorshift64).
#[allow(dead_code)]
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// A `u64` in the file at `path` (made if missing), mapped shared: a child
/// process stores its progress there and the test reads it, also after
/// the child was killed. Mapped for the rest of the process.
#[allow(dead_code)]
pub fn shared_counter(path: &Path) -> &'static AtomicU64 {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    f.set_len(8).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: a fresh shared mapping of an 8-byte file we hold open; never unmapped.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            8,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: 8 mapped, page-aligned bytes for the life of the process.
    unsafe { &*p.cast::<AtomicU64>() }
}
