//! Helpers shared by the benches (each includes this file as a module).

use std::io::{Read, Write};

/// CPUs online (not the affinity mask, which an earlier pin has narrowed).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize
}

/// Pins the calling thread to `cpu` modulo the CPUs online.
pub fn pin(cpu: usize) {
    let _ = ringcore::numa::bind_to_cpu(cpu % online_cpus());
}

/// The median of `runs` results of `f`.
pub fn median(runs: usize, f: impl Fn() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..runs).map(|_| f()).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[runs / 2]
}

/// Reads every byte of `p` and returns their sum, the same work for every
/// consumer. It sums 256-byte chunks in u16 (256 * 255 < 2^16), which the
/// compiler vectorises four times wider than a u64 sum (~14 GB/s against
/// ~3.4 GB/s here), so that the transport, not the reading, sets the pace
/// of a stream of large messages. A byte sum does not depend on where a
/// stream is cut into reads.
pub fn touch(p: &[u8]) -> u64 {
    p.chunks(256)
        .map(|c| c.iter().map(|&b| b as u16).sum::<u16>() as u64)
        .sum()
}

/// A forked child whose result (a few u64) comes back through a pipe.
pub struct Child {
    pid: libc::pid_t,
    out: std::fs::File,
}

/// Runs `f` in a forked child; `Child::collect` returns what it returned.
/// The caller must be single-threaded when it forks.
pub fn fork(f: impl FnOnce() -> Vec<u64>) -> Child {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into our array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the caller is single-threaded when it forks; the child only
    // runs `f` and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: the write end is ours in the child.
        let mut out = unsafe { std::fs::File::from_raw_fd(fds[1]) };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for x in f() {
                out.write_all(&x.to_ne_bytes()).unwrap();
            }
        }))
        .is_ok();
        // SAFETY: leave at once, skipping the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    // SAFETY: the parent keeps the read end only.
    unsafe { libc::close(fds[1]) };
    Child {
        pid,
        // SAFETY: fds[0] is ours.
        out: unsafe { std::fs::File::from_raw_fd(fds[0]) },
    }
}

impl Child {
    /// Waits for the child (which must have succeeded) and returns its result.
    pub fn collect(mut self) -> Vec<u64> {
        let mut bytes = Vec::new();
        self.out.read_to_end(&mut bytes).unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child failed"
        );
        bytes
            .chunks(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
            .collect()
    }
}
