//! # ringcore: lock-free, zero-copy rings, in process and across processes
//!
//! The core of ringmpsc. The centre is one single-producer single-consumer
//! index protocol, written once over raw memory and reused by every ring:
//!
//! - [`Ring`]: a bounded SPSC ring of `T` on the heap, split into a
//!   [`Producer`] and a [`Consumer`] (zero-copy [`Reservation`]s, batch
//!   consumption with one index update per batch, blocking variants);
//! - [`SlotRing`]: the same ring with run-time-sized byte slots (the C and
//!   Python APIs use it);
//! - [`Backoff`], [`WaitStrategy`] and [`Waiter`] for waiting, with futex
//!   sleeps that cost the other side of a ring nothing unless someone
//!   sleeps (a publication checks for sleepers with a load behind a
//!   compiler fence; the side going to sleep runs the barrier: a
//!   `membarrier` in a ring of one process, a 2 us settling spin in one
//!   shared between processes or where `membarrier` is unavailable);
//! - [`Metrics`], optional and free when off; [`numa`] placement.
//!
//! ## Semantics
//!
//! - Bounded, never overwrites: a full ring refuses writes ([`Error::Full`]).
//! - Non-blocking calls are wait-free (a bounded number of steps, no locks,
//!   no system calls). A futex wake is issued only when the other side is
//!   registered as sleeping.
//! - Memory ordering: each side loads its own index relaxed, the other side's
//!   with Acquire, and publishes with Release; no `SeqCst` on the
//!   publication path: the side about to sleep runs the barrier (see the
//!   `sync` module notes for the sleep/wake handshake).
//! - Closing: [`Producer::close`] / [`Consumer::close`] (or dropping either
//!   handle) closes the ring; sends then fail with [`Error::Closed`], reads
//!   drain what is left and then report [`Error::Closed`].
//!
//! ```
//! use ringcore::{Config, Ring, WaitStrategy};
//! let (mut tx, mut rx) = Ring::<u64>::new(Config::LOW_LATENCY)?;
//! let producer = std::thread::spawn(move || {
//!     for i in 0..10_000u64 {
//!         tx.send_one_blocking(i, WaitStrategy::Blocking).unwrap();
//!     }
//! });
//! let mut expected = 0;
//! loop {
//!     match rx.consume_batch_blocking(|&x| { assert_eq!(x, expected); expected += 1 }, WaitStrategy::Blocking) {
//!         Ok(_) => {}
//!         Err(ringcore::Error::Closed) => break,
//!         Err(e) => panic!("{e}"),
//!     }
//! }
//! producer.join().unwrap();
//! assert_eq!(expected, 10_000);
//! # Ok::<(), ringcore::Error>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]
// The loom build compiles only the index protocols' modules, so code that
// only the left-out modules call is unused there.
#![cfg_attr(loom, allow(dead_code))]

pub mod channel;
mod config;
mod error;
mod frame;
#[cfg(not(loom))]
pub mod inspect;
#[cfg(not(loom))]
pub mod log;
mod metrics;
#[cfg(not(loom))]
pub mod msg;
mod notify;
pub mod numa;
mod pod;
mod pool;
pub mod ring;
#[cfg(not(loom))]
pub mod shm;
pub(crate) mod sync;
pub(crate) mod sys;
mod wait;
#[cfg(not(loom))]
pub mod wait_set;

pub use config::Config;
pub use error::{Error, ErrorKind, Result, SendError};
pub use metrics::Metrics;
pub use notify::{EventNotifier, Gate, Notify};
pub use pod::Pod;
pub use pool::{BufferPool, Handle};
pub use ring::{
    Consumer, Drain, Producer, ReadIter, Reservation, Ring, RingObserver, SlotConsumer,
    SlotProducer, SlotRing,
};
pub use wait::{Backoff, Deadline, WaitStrategy, Waiter, LIVENESS_SLICE, MAX_PACE, PACED_RETRIES};

/// The SPSC channel is the ring itself: no wrapper, no extra indirection.
pub mod spsc {
    pub use crate::ring::{Consumer, Producer, Ring as Channel};
}
