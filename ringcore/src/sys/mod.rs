//! Every system call of the crate, behind a small safe API: the one place
//! an unsafe review of system calls reads, and the one place a port (macOS
//! has `shm_open` but no memfd, futex, eventfd or epoll) would touch.
//!
//! - [`map`]: shared mappings of files and memfds (through `memmap2`), and
//!   anonymous memory placed on a NUMA node;
//! - [`futex`]: futex sleeps and wakes, and the `membarrier` heavy barrier;
//! - [`fs`]: memfds and their seals, unnamed files and their names,
//!   permissions, sizes, open-file-description locks;
//! - [`socket`]: descriptors over Unix sockets, peer credentials;
//! - [`event`]: eventfd and epoll;
//! - [`process`]: clocks, process liveness, CPU affinity, page size, fork
//!   hooks, the descriptors another process holds;
//! - [`fork`]: what a forked child lets go of (lock descriptors and their
//!   mappings), and
//!   whether an owner runs in a child of the process that made it;
//! - [`sigbus`]: reads of a mapping whose file another process may shrink;
//! - [`registry`]: the growing tables the fork and `SIGBUS` handlers walk.

// Under loom only the in-process parts are built, which use little of this.
#![cfg_attr(loom, allow(dead_code))]

pub(crate) mod event;
pub(crate) mod fork;
pub(crate) mod fs;
#[cfg(not(loom))]
pub(crate) mod futex;
pub(crate) mod map;
pub(crate) mod process;
pub(crate) mod registry;
pub(crate) mod sigbus;
pub(crate) mod socket;

/// The last OS error, with what was being done (and to which file) in its text.
pub(crate) fn last_error(what: &str, path: Option<&std::path::Path>) -> std::io::Error {
    let e = std::io::Error::last_os_error();
    match path {
        Some(p) => crate::error::with_context(e, format_args!("{what} {}", p.display())),
        None => crate::error::with_context(e, what),
    }
}
