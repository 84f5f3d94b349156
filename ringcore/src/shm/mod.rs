//! Cross-process shared memory: segments (named files or sealed memfds),
//! their documented header ([`layout`]), the shared SPSC ring, liveness of
//! the processes on each side, and descriptor passing over Unix sockets.

pub(crate) mod fdpass;
pub mod inspect;
pub mod layout;
pub mod liveness;
mod mapped;
mod ring;
mod segment;
pub(crate) mod view;

pub use fdpass::{connect_unix, recv_fd, send_fd, FdServer};
pub use inspect::{RingFollower, SegmentInfo, SegmentKind, SegmentView};
pub use liveness::{monotonic_ns, pid_exists, HEARTBEAT_PERIOD};
pub use mapped::{remove_if_stale, DEFAULT_STALE_AFTER};
pub(crate) use mapped::{segment_methods, Mapped};
pub use ring::SharedRing;
pub use segment::{resolve_name, unlink, Permissions, Segment};
