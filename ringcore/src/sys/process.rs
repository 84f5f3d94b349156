//! Clocks, process liveness, identity, CPU affinity, the page size, fork
//! hooks, and the descriptors another process holds.

/// CLOCK_MONOTONIC in nanoseconds (one clock for every process on the machine).
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-buffer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The age of `stamp`, a [`monotonic_ns`] a process stored: `None` for 0
/// (never stamped). A stamp ahead of this clock counts as just taken: a
/// process of another time namespace reads CLOCK_MONOTONIC with an offset,
/// and judging it dead while it runs would hand its side to a second
/// holder. So such a holder, when it dies, is judged by its stamps alone
/// (another pid namespace too) only once this clock passes its last one,
/// and a scribbled stamp far ahead keeps such a side, or one whose
/// recorded pid lives, taken that long. A holder whose clock runs behind
/// this one's by more than the stale limit looks dead while it runs: time
/// namespaces with offsets are not supported across pid namespaces.
pub(crate) fn stamp_age(stamp: u64) -> Option<std::time::Duration> {
    (stamp != 0).then(|| std::time::Duration::from_nanos(monotonic_ns().saturating_sub(stamp)))
}

/// Whether `stamp` has a [`stamp_age`] of at most `within`.
pub(crate) fn stamped_within(stamp: u64, within: std::time::Duration) -> bool {
    stamp_age(stamp).is_some_and(|age| age <= within)
}

/// This process's pid namespace: the inode of `/proc/self/ns/pid` (0
/// where it cannot be read). Pids of two namespaces mean nothing to each
/// other.
pub(crate) fn pid_namespace() -> u64 {
    use std::sync::atomic::Ordering;
    let ns = PID_NAMESPACE.load(Ordering::Relaxed);
    if ns != UNREAD {
        return ns;
    }
    FORGET_ON_FORK.call_once(|| after_fork_in_child(forget_pid_namespace));
    use std::os::unix::fs::MetadataExt;
    let ns = std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino());
    PID_NAMESPACE.store(ns, Ordering::Relaxed);
    ns
}

/// [`pid_namespace`]'s cache. Not read once for all: a child forked after
/// `unshare(CLONE_NEWPID)` lives in another namespace than its parent.
static PID_NAMESPACE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(UNREAD);
/// Not read yet (no namespace's inode is this).
const UNREAD: u64 = u64::MAX;

/// Registers [`forget_pid_namespace`].
static FORGET_ON_FORK: ForkSafeOnce = ForkSafeOnce::new();

extern "C" fn forget_pid_namespace() {
    FORGET_ON_FORK.mark_done();
    PID_NAMESPACE.store(UNREAD, std::sync::atomic::Ordering::Relaxed);
}

/// The pid namespace a side records while it is being claimed: judged by
/// its heartbeat alone until the claimer, having won, records its own.
pub(crate) const CLAIMING_NAMESPACE: u64 = u64::MAX;

/// Whether a recorded pid namespace `ns` is another than this process's
/// (or a claim in progress): a pid recorded with it cannot be looked up
/// here. 0 is "not recorded" (segments made before the word existed).
pub(crate) fn foreign_namespace(ns: u64) -> bool {
    let ours = pid_namespace();
    ns == CLAIMING_NAMESPACE || (ns != 0 && ours != 0 && ns != ours)
}

/// Whether a process with this pid exists and has not exited (also when it
/// belongs to another user). A process killed but not yet reaped by its
/// parent (a zombie) has exited: it counts as gone.
pub(crate) fn pid_exists(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let exists = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !has_exited(pid)
}

/// Whether the process `pid` has ended, though its parent has not reaped
/// it yet (a zombie). Its pidfd becomes readable once every thread of it has
/// ended (Linux 5.3); without pidfds, `/proc` shows the state of its main
/// thread, and counts only when that thread is the process's last one.
/// Where neither can tell, a process that `kill` sees counts as running.
fn has_exited(pid: u32) -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if fd >= 0 {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait; then our own descriptor is closed.
        let ended = unsafe {
            let ready = libc::poll(&mut p, 1, 0) == 1 && p.revents & libc::POLLIN != 0;
            libc::close(fd);
            ready
        };
        return ended;
    }
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("")
    };
    field("State:").starts_with(['Z', 'X'])
        && field("Threads:").parse::<u32>().is_ok_and(|n| n <= 1)
}

/// The effective user of this process.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// The run-time page size (at least 4 KiB).
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize
}

/// Pins the calling thread to `cpus`; `InvalidInput` for a CPU beyond
/// what an affinity mask holds.
pub(crate) fn bind_to_cpus(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("CPU {cpu} out of range"),
            ));
        }
        // SAFETY: cpu is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The CPU the calling thread runs on now.
pub(crate) fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// Runs `prepare` in the forking thread before `fork`, then `parent` in the
/// parent and `child` in the child after it.
pub(crate) fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) {
    // SAFETY: registers plain extern "C" functions; they run at fork time.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}

/// A set-up run once in a process, like `std::sync::Once`, that a fork
/// cannot leave stuck or half done. A thread that comes while another
/// thread of its process runs the set-up waits for it. A child forked
/// while a thread of its parent ran the set-up (a `std::sync::Once` there
/// would keep the child's callers waiting for ever, for a thread the child
/// does not have) runs it again at its first call, unless a fork handler
/// the set-up registered ran in the child and called
/// [`mark_done`](Self::mark_done). What a set-up does must bear being done
/// twice, and the fork handlers it registers being called twice in one
/// fork: a registration made while another thread's fork runs its prepare
/// handlers reaches the child without running there (glibc), so the child
/// registers them again.
pub(crate) struct ForkSafeOnce(std::sync::atomic::AtomicU32);

/// [`ForkSafeOnce`]'s state once the set-up is done; 0 before it starts,
/// else the thread id of its runner (thread ids stay below 2^22).
const SET_UP: u32 = u32::MAX;
/// How long a caller waits for a runner that looks like a thread of its
/// process before it takes the set-up over: set-ups take milliseconds, so
/// such a runner is an ancestor's, copied by a fork, whose thread id a
/// thread of this process happens to have.
const TAKE_OVER_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether `tid` names a thread of this process.
fn thread_here(tid: u32) -> bool {
    // SAFETY: signal 0 only checks that the thread exists; no signal is sent.
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid as libc::pid_t, 0) == 0 }
}

impl ForkSafeOnce {
    /// Not run yet.
    pub(crate) const fn new() -> ForkSafeOnce {
        ForkSafeOnce(std::sync::atomic::AtomicU32::new(0))
    }

    /// Runs `f` unless it was done in this process; waits while another
    /// thread of this process runs it. Where `f` panics, the next caller
    /// runs it again.
    pub(crate) fn call_once(&self, f: impl FnOnce()) {
        self.call_once_waiting(f, TAKE_OVER_AFTER);
    }

    /// [`call_once`](Self::call_once), waiting at most `patience` for a
    /// runner (from when it was first seen) before taking the set-up over.
    fn call_once_waiting(&self, f: impl FnOnce(), patience: std::time::Duration) {
        use std::sync::atomic::{AtomicU32, Ordering};
        // Acquire pairs with the Release below: what `f` did is seen.
        if self.0.load(Ordering::Acquire) == SET_UP {
            return;
        }
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() } as u32;
        let mut seen = (0, std::time::Instant::now());
        loop {
            let state = self.0.load(Ordering::Acquire);
            if state == SET_UP {
                return;
            }
            if state != seen.0 {
                seen = (state, std::time::Instant::now());
            }
            // Not started; or a runner that is no thread of this process
            // (one of the parent this process was forked from mid-run); or
            // one that never ends (see TAKE_OVER_AFTER): not done here.
            let free = state == 0 || !thread_here(state) || seen.1.elapsed() > patience;
            if free
                && self
                    .0
                    .compare_exchange(state, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                break;
            }
            if !free {
                std::thread::yield_now();
            }
        }
        /// Puts the state back to "not started" where `f` unwinds, unless
        /// another caller took it over meanwhile.
        struct Unwinding<'a>(&'a AtomicU32, u32);
        impl Drop for Unwinding<'_> {
            fn drop(&mut self) {
                let _ = self
                    .0
                    .compare_exchange(self.1, 0, Ordering::Release, Ordering::Relaxed);
            }
        }
        let unwinding = Unwinding(&self.0, me);
        f();
        std::mem::forget(unwinding);
        self.0.store(SET_UP, Ordering::Release);
    }

    /// Marks the set-up done: for its fork handler in a child, where it
    /// ran because the set-up registered it before the fork (so the
    /// handler makes up for whatever the set-up does after registering it).
    pub(crate) fn mark_done(&self) {
        self.0.store(SET_UP, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs `child` in the child process after every `fork`.
pub(crate) fn after_fork_in_child(child: extern "C" fn()) {
    // SAFETY: as for `at_fork`.
    unsafe { libc::pthread_atfork(None, None, Some(child)) };
}

/// Most descriptors of one process [`descriptors`] looks at: a bound on
/// the time an inspection spends on a process with a huge table.
const MAX_DESCRIPTORS: usize = 1 << 16;

/// The open descriptors of process `pid` and what each leads to (the text
/// of its `/proc/PID/fd` link: a path, or for example `/memfd:NAME (deleted)`),
/// as far as this process may see them (the same user, the same pid
/// namespace); the first [`MAX_DESCRIPTORS`] only.
pub(crate) fn descriptors(pid: u32) -> std::io::Result<Vec<(u32, std::path::PathBuf)>> {
    let dir = std::path::PathBuf::from(format!("/proc/{pid}/fd"));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)?.take(MAX_DESCRIPTORS) {
        let Ok(entry) = entry else { continue };
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(entry.path()) {
            out.push((fd, target));
        }
    }
    out.sort_unstable_by_key(|&(fd, _)| fd);
    Ok(out)
}

/// The path that opens descriptor `fd` of process `pid` anew (following
/// its `/proc` link, which for a memfd gives the same file).
pub(crate) fn descriptor_path(pid: u32, fd: u32) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/{pid}/fd/{fd}"))
}

/// The wait status of our child `pid` once it ends, waiting at most
/// `within`; `None` (the child killed and reaped) when it did not end.
#[cfg(test)]
pub(crate) fn exit_status_within(pid: libc::pid_t, within: std::time::Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + within;
    let mut status = 0;
    // SAFETY: waits for our own child; status is a valid out-pointer.
    while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != pid {
        if std::time::Instant::now() > deadline {
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::{exit_status_within, monotonic_ns, stamped_within, ForkSafeOnce};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// Runs a set-up in a thread and forks while it runs; returns the
    /// child's exit status once a caller here has seen the set-up done.
    /// `child` is what the child runs (it ends by `_exit`).
    fn fork_during(set_up: &'static ForkSafeOnce, register: bool, child: fn() -> !) -> i32 {
        let (started, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (started_there, done_there) = (started.clone(), done.clone());
        let runner = std::thread::spawn(move || {
            set_up.call_once(|| {
                if register {
                    super::after_fork_in_child(mark_registered_done);
                }
                started_there.store(true, Ordering::Release);
                std::thread::sleep(Duration::from_millis(300));
                done_there.store(true, Ordering::Release);
            })
        });
        while !started.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        // SAFETY: the child only loads and stores atomics, asks its pid,
        // yields and exits with `_exit`, all safe after a fork of a
        // threaded process.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            child();
        }
        // Meanwhile another caller here waits for the set-up to finish.
        set_up.call_once(|| panic!("the set-up ran twice"));
        assert!(
            done.load(Ordering::Acquire),
            "returned before the set-up was done"
        );
        runner.join().expect("runner");
        exit_status_within(pid, Duration::from_secs(10))
            .expect("the child waited for a set-up its parent's thread was running")
    }

    static REGISTERED: ForkSafeOnce = ForkSafeOnce::new();

    extern "C" fn mark_registered_done() {
        REGISTERED.mark_done();
    }

    fn exit_with(code: i32) -> ! {
        // SAFETY: ends a forked child without running its parent's exit code.
        unsafe { libc::_exit(code) }
    }

    #[test]
    fn a_child_forked_during_a_set_up_runs_it_again() {
        static SET_UP: ForkSafeOnce = ForkSafeOnce::new();
        let status = fork_during(&SET_UP, false, || {
            static RAN: AtomicBool = AtomicBool::new(false);
            SET_UP.call_once(|| RAN.store(true, Ordering::Relaxed));
            exit_with(if RAN.load(Ordering::Relaxed) { 0 } else { 3 })
        });
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status}"
        );
    }

    #[test]
    fn a_child_whose_fork_handler_the_set_up_registered_does_not_run_it_again() {
        let status = fork_during(&REGISTERED, true, || {
            REGISTERED.call_once(|| exit_with(3));
            exit_with(0)
        });
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status}"
        );
    }

    #[test]
    fn a_stamp_is_recent_once_taken_and_until_it_is_older_than_the_limit() {
        let second = Duration::from_secs(1);
        let now = monotonic_ns();
        assert!(stamped_within(now, second));
        assert!(
            !stamped_within(0, Duration::from_secs(u64::MAX / 4)),
            "never stamped"
        );
        assert!(
            !stamped_within(now.saturating_sub(2_000_000_000), second),
            "too old"
        );
        // Another time namespace's clock may run ahead of ours.
        assert!(stamped_within(now + 3_600_000_000_000, second));
    }

    /// Runs `call_once_waiting` on a set-up whose state reads `runner`
    /// in a thread; whether it ran the set-up within 10 s.
    fn taken_over(set_up: &'static ForkSafeOnce, runner: u32, patience: Duration) -> bool {
        set_up.0.store(runner, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ran = AtomicBool::new(false);
            set_up.call_once_waiting(|| ran.store(true, Ordering::Relaxed), patience);
            set_up.call_once(|| panic!("the set-up ran twice"));
            let _ = tx.send(ran.load(Ordering::Relaxed));
        });
        rx.recv_timeout(Duration::from_secs(10)) == Ok(true)
    }

    #[test]
    fn a_runner_that_is_no_thread_here_is_taken_over_at_once() {
        static COPIED: ForkSafeOnce = ForkSafeOnce::new();
        // A thread id no thread of this process has (thread ids stay
        // below 2^22): what a child forked mid-set-up finds.
        assert!(taken_over(
            &COPIED,
            (1 << 22) + 5,
            Duration::from_secs(3600)
        ));
    }

    #[test]
    fn a_runner_that_never_ends_is_taken_over() {
        static COPIED: ForkSafeOnce = ForkSafeOnce::new();
        // The thread id of a thread here that runs no set-up: what a
        // process inherits whose thread happens to have the id of an
        // ancestor's runner.
        // SAFETY: gettid has no preconditions.
        let this_thread = unsafe { libc::gettid() } as u32;
        assert!(taken_over(&COPIED, this_thread, Duration::from_millis(50)));
    }
}
