//! A segment of unknown content, opened as a message ring, a slot ring or a
//! buffer pool and driven through every read and write path: shared by the
//! corrupted-segments test (`tests/shm.rs`) and the fuzz target (`fuzz/`).
//! Every call must return, with a value or an error.

use ringcore::msg::MessageRing;
use ringcore::shm::SharedRing;
use ringcore::{BufferPool, Handle};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};

/// An anonymous file holding `bytes`, its size sealed, as a peer could
/// hand over (an unsealed one is refused before it is read).
pub fn segment_file(bytes: &[u8]) -> OwnedFd {
    // SAFETY: memfd_create takes a NUL-terminated name and flags.
    let fd = unsafe { libc::memfd_create(c"ringcore-mutant".as_ptr(), libc::MFD_ALLOW_SEALING) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor that nothing else owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(bytes).unwrap();
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
    // SAFETY: fcntl on a descriptor we hold.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) }, 0);
    file.into()
}

/// What the segment allowed.
#[derive(Default)]
pub struct Outcome {
    /// It was accepted as a segment of that kind.
    pub attached: bool,
    /// Messages or items read from it.
    pub delivered: usize,
}

/// Opens `fd` as kind `kind % 3` (message ring, slot ring, pool) and uses
/// it; `probe` is a handle value tried on a pool.
pub fn exercise(kind: u8, fd: OwnedFd, probe: u32) -> Outcome {
    let mut out = Outcome::default();
    match kind % 3 {
        0 => {
            let Ok(ring) = MessageRing::from_fd(fd) else {
                return out;
            };
            out.attached = true;
            if let Ok(mut rx) = ring.receiver() {
                for _ in 0..70 {
                    match rx.try_recv() {
                        Ok(m) => {
                            assert!(m.payload().len() <= ring.max_message());
                            out.delivered += 1;
                        }
                        Err(_) => break,
                    }
                }
                let max = ring.max_message();
                if let Ok(n) = rx.recv_batch(70, |_, p| assert!(p.len() <= max)) {
                    out.delivered += n;
                }
            }
            if let Ok(mut tx) = ring.sender() {
                for i in 0..20 {
                    let _ = tx.send(i, &[1u8; 200]);
                }
                let _ = tx.send_many((0..20).map(|i| (i, &[2u8; 100][..])));
            }
        }
        1 => {
            let Ok(ring) = SharedRing::from_fd(fd, None) else {
                return out;
            };
            out.attached = true;
            if let Ok(mut rx) = ring.consumer::<u64>() {
                while rx.try_recv().is_ok() && out.delivered < 100 {
                    out.delivered += 1;
                }
            }
            if let Ok(mut tx) = ring.producer::<u64>() {
                for i in 0..20 {
                    let _ = tx.send_one(i);
                }
            }
        }
        _ => {
            let Ok(pool) = BufferPool::from_fd(fd) else {
                return out;
            };
            out.attached = true;
            let mut buf = vec![0u8; pool.slab_size()];
            for raw in [probe, 0, 1, u32::MAX] {
                if pool.read_into(Handle::from_raw(raw), &mut buf).is_ok() {
                    out.delivered += 1;
                }
            }
            for _ in 0..10 {
                match pool.try_alloc() {
                    Ok(Some(h)) => {
                        let _ = pool.write(h, &[3u8; 64]);
                        let _ = pool.free(h);
                    }
                    _ => break,
                }
            }
        }
    }
    out
}
