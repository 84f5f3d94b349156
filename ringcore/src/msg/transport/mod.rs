//! A server/client channel across processes: one [`Server`], any number of
//! [`Client`]s in any language, each client with its own rings (the MPSC
//! design across processes: clients never contend with each other), three
//! [`Priority`] levels per direction, backpressure, liveness and crash
//! recovery.
//!
//! # How it is put together
//!
//! - The server creates the named **control segment** (`name`, a bare name
//!   under `/dev/shm`), for discovery and inspectors, and listens on an
//!   abstract Unix socket derived from the same name. Binding that socket
//!   is what makes a process the server: the kernel releases it when the
//!   server dies, so a new server takes a stale name over at once, while a
//!   live server (of any user, whatever its pid) keeps it. Only the
//!   server's user may write the named segment (its mode never grants
//!   others write access); a shared group and mode 0640 let other users
//!   inspect the channel.
//! - A client connects to the socket. It learns the server's pid and user
//!   from the kernel (`SO_PEERCRED`) and refuses a server of any user but
//!   its own, root, and the one its options name
//!   ([`ClientOptions::server_user`]): whoever holds a name is its server.
//!   The server learns the client's pid,
//!   uid and groups the same way (not from anything the client says) as it
//!   accepts it, and refuses at once every user but its own and those its
//!   [`Admission`] names. Handshakes run
//!   concurrently, each with a 1 s deadline and at most 64 at once, so idle
//!   connections cannot hold up a client. The welcome passes two anonymous
//!   memfds, sealed against shrinking and growing (the client refuses
//!   unsealed ones: a file shrunk under a mapping faults at its next
//!   access): the server's **live control segment**, which every client
//!   maps (the named one's layout: the server's state and heartbeat, and
//!   the doorbell clients ring; its client table is unused), and the
//!   client's **channel segment**, which only this client receives.
//! - The channel segment holds six message rings: requests (client to
//!   server) and responses (server to client), one ring per priority in
//!   each direction. Every message is a framed record of the message ring
//!   ([`MessageRing`](crate::msg::MessageRing)), published by its commit
//!   word, stored last: a client killed mid-send leaves only whole messages.
//! - The server sleeps on one doorbell in the live control segment that
//!   every client rings after a send when the server sleeps; a client
//!   sleeps on its own doorbell in its channel segment.
//!
//! # Liveness and recovery
//!
//! - A client that dies (even by `kill -9`) closes its socket: the server's
//!   acceptor thread sees it at once. The requests the client committed
//!   before dying are still delivered to the server; then its slot is
//!   reclaimed and its segment unmapped. (A client that closes its socket
//!   but writes on gets at most a ring's worth more read.) Replies to it fail with
//!   `Disconnected`.
//! - A server that dies closes its socket too: clients check it on their
//!   slow paths (a full ring, an empty one while waiting, at least every
//!   50 ms of a blocking call) and report `Disconnected`. A server that
//!   calls [`Server::shutdown`] marks both control segments and wakes every
//!   client; their next call returns `Disconnected`.
//! - Both sides stamp a heartbeat every 20 ms (a process that is stopped,
//!   not dead, goes stale): [`Client::is_server_alive`],
//!   [`Server::is_client_alive`].
//!
//! # What a hostile client can do
//!
//! Scribble over its own channel segment and the live control segment;
//! neither can be shrunk, and the named one only the server's user can
//! write. The server bounds every index and length it reads from a ring
//! (a bad one disconnects that client, whose requests so far were
//! delivered) and treats the live control segment's words as hints: a
//! scribbled doorbell can only delay the server's wake-up (its sleeps are
//! bounded), never crash it or expose another client's rings; the state
//! words clients read are rewritten every 100 ms.
//!
//! # Layouts
//!
//! ```text
//! control segment (kind 5; the named one and the live memfd), after the
//! 512-byte segment header
//! 0x200  server line    pid u32, state u32 (1 running, 2 shut down), heartbeat_ns u64,
//!                       max_clients u32, protocol u32, started_ns u64
//! 0x280  doorbell       state u32 (sleepers; bit 31: not rung yet), seq u32 (the
//!                       server sleeps on seq)
//! 0x300  client table   max_clients entries of 64 bytes:
//!                       pid u32, state u32 (0 free, 1 connected), generation u32, 0 u32,
//!                       connected_ns u64
//!
//! channel segment (kind 4), after the 512-byte segment header
//! 0x200  client line    pid u32, slot u32, heartbeat_ns u64, generation u32,
//!                       ring_bits u32 x 6, 0 u32, dropped u64 (messages the
//!                       client dropped, stored by the client)
//! 0x280  doorbell       state u32, seq u32 (the client sleeps on seq)
//! 0x300  ring indices   6 x 384 bytes (producer, consumer and wake lines of each ring)
//! 0x1000 ring data      requests Critical, High, Low, then responses Critical, High, Low;
//!                       2^ring_bits bytes each, one after the other
//! ```

mod acceptor;
mod client;
pub mod inspect;
mod server;

pub use acceptor::Admission;
pub use client::{Client, ClientOptions, Response};
pub use server::{ClientInfo, Request, Server, ServerOptions};

use super::priority::{Doorbell, PrioritySender};
use super::Priority;
use crate::error::{Error, Result};
use crate::ring::raw::RingIndices;
use crate::shm::layout::{Geometry, Kind, HEADER_SIZE};
use crate::shm::Mapped;
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::wait::{Deadline, LIVENESS_SLICE};
use std::os::unix::net::SocketAddr;
use std::time::Duration;

/// Version of the handshake and segment layouts; both sides must agree.
/// Version 2 passes the live control segment in the welcome.
pub const PROTOCOL: u32 = 2;
/// Most clients one server takes.
pub const MAX_CLIENTS: usize = 4096;

/// Server states in the control segment.
const STATE_RUNNING: u32 = 1;
const STATE_SHUT_DOWN: u32 = 2;

/// A connected client: its slot and the slot's generation (bumped at every
/// connection, so an id never names a later client of the same slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    /// The client's slot, 0 to max_clients - 1.
    pub slot: u32,
    /// The slot's connection count when this client connected.
    pub generation: u32,
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "client {}.{}", self.slot, self.generation)
    }
}

/// What a send does when the ring of its priority is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendPolicy {
    /// Fail at once with `Full`.
    Fail,
    /// Wait for room, at most this long (`None`: no limit), then `TimedOut`.
    Block(Option<Duration>),
    /// Drop a Low message at once (the send returns `Ok(false)`) and let
    /// Critical and High ones wait as with `Block`: under pressure, Low
    /// traffic goes first.
    DropLow(Option<Duration>),
}

/// The server line of the control segment.
#[repr(C, align(128))]
pub(crate) struct ServerLine {
    pub(crate) pid: AtomicU32,
    pub(crate) state: AtomicU32,
    pub(crate) heartbeat_ns: AtomicU64,
    pub(crate) max_clients: AtomicU32,
    pub(crate) protocol: AtomicU32,
    pub(crate) started_ns: AtomicU64,
}

/// One entry of the client table (written by the server only).
#[repr(C)]
pub(crate) struct ClientEntry {
    pub(crate) pid: AtomicU32,
    pub(crate) state: AtomicU32,
    pub(crate) generation: AtomicU32,
    _zero: AtomicU32,
    pub(crate) connected_ns: AtomicU64,
    _pad: [u64; 5],
}

/// The client line of a channel segment.
#[repr(C, align(128))]
pub(crate) struct ClientLine {
    pub(crate) pid: AtomicU32,
    pub(crate) slot: AtomicU32,
    pub(crate) heartbeat_ns: AtomicU64,
    pub(crate) generation: AtomicU32,
    pub(crate) ring_bits: [AtomicU32; 6],
    _zero: AtomicU32,
    /// Messages the client dropped ([`Client::dropped`]), stored by the
    /// client after each drop for inspectors (`ringmpsc stat`).
    pub(crate) dropped: AtomicU64,
}

const LINE: usize = 128;
const CONTROL_TABLE: usize = HEADER_SIZE + 2 * LINE;
const CHANNEL_RINGS: usize = HEADER_SIZE + 2 * LINE;
const CHANNEL_DATA: usize = 0x1000;
const INDICES: usize = std::mem::size_of::<RingIndices>();

const _: () = {
    assert!(std::mem::size_of::<ServerLine>() == LINE);
    assert!(std::mem::size_of::<ClientLine>() == LINE);
    assert!(std::mem::size_of::<Doorbell>() == LINE);
    assert!(std::mem::size_of::<ClientEntry>() == 64);
    assert!(std::mem::offset_of!(ClientLine, ring_bits) == 20);
    assert!(std::mem::offset_of!(ClientLine, dropped) == 48);
    assert!(INDICES == 384);
    assert!(CHANNEL_RINGS + 6 * INDICES <= CHANNEL_DATA);
};

/// A `T` at `offset` of a mapped segment.
fn at<T>(m: &Mapped, offset: usize) -> &T {
    assert!(offset + std::mem::size_of::<T>() <= m.segment.len());
    debug_assert!(offset % std::mem::align_of::<T>() == 0);
    // SAFETY: inside the mapping (checked above), aligned (offsets are
    // multiples of 64 and the mapping is page-aligned); every T used here is
    // made of atomics, valid for any bits a peer may write.
    unsafe { &*m.segment.base().as_ptr().add(offset).cast::<T>() }
}

/// Checks that a segment a peer made holds the `fixed` bytes its kind
/// begins with, before any of them is read.
fn fits(m: &Mapped, fixed: usize, kind: &str) -> Result<()> {
    if m.segment.len() < fixed {
        return Err(Error::InvalidHeader(format!(
            "{kind} segment of {} bytes is shorter than its fixed part of {fixed}",
            m.segment.len()
        )));
    }
    Ok(())
}

/// The control segment's parts.
pub(crate) struct Control {
    pub(crate) mapped: Mapped,
    max_clients: usize,
}

impl Control {
    fn geometry(max_clients: usize) -> Geometry {
        Geometry {
            kind: Kind::Control,
            ring_bits: 0,
            slot_size: 1,
            slab_count: 0,
            data_size: (2 * LINE + 64 * max_clients) as u64,
        }
    }

    /// Checks a mapped control segment (magic, versions, layout).
    fn checked(mapped: Mapped) -> Result<Control> {
        fits(&mapped, CONTROL_TABLE, "control")?;
        let server: &ServerLine = at(&mapped, HEADER_SIZE);
        let protocol = server.protocol.load(Ordering::Relaxed);
        if protocol != PROTOCOL {
            return Err(Error::InvalidHeader(format!(
                "the server speaks transport protocol {protocol}, this library speaks {PROTOCOL}"
            )));
        }
        let max_clients = server.max_clients.load(Ordering::Relaxed) as usize;
        if max_clients == 0
            || max_clients > MAX_CLIENTS
            || Self::geometry(max_clients).data_size != mapped.geometry.data_size
        {
            return Err(Error::InvalidHeader(format!(
                "control segment of {} data bytes does not hold {max_clients} clients",
                mapped.geometry.data_size
            )));
        }
        Ok(Control {
            mapped,
            max_clients,
        })
    }

    /// The control segment a client receives, mapped by its sealed size
    /// alone: every client maps it writable (to ring the doorbell), so its
    /// header and server line may be any other client's scribble, which
    /// must not stop this one from connecting. (The welcome carries the
    /// protocol; the client reads only the doorbell and the state word,
    /// which its socket overrules.)
    pub(crate) fn for_client(fd: std::os::fd::OwnedFd) -> Result<Control> {
        let mut max_clients = 0;
        let mapped = Mapped::from_sealed_fd_sized(fd, Kind::Control, |len| {
            let table = len.checked_sub(CONTROL_TABLE)?;
            max_clients = table / 64;
            (table % 64 == 0 && (1..=MAX_CLIENTS).contains(&max_clients))
                .then(|| Self::geometry(max_clients))
        })?;
        Ok(Control {
            mapped,
            max_clients,
        })
    }

    pub(crate) fn server(&self) -> &ServerLine {
        at(&self.mapped, HEADER_SIZE)
    }

    pub(crate) fn doorbell(&self) -> &Doorbell {
        at(&self.mapped, HEADER_SIZE + LINE)
    }

    pub(crate) fn entry(&self, slot: usize) -> &ClientEntry {
        assert!(slot < self.max_clients);
        at(&self.mapped, CONTROL_TABLE + 64 * slot)
    }
}

/// A client's channel segment and its six rings.
pub(crate) struct Channel {
    pub(crate) mapped: Mapped,
    pub(crate) bits: [u32; 6],
}

impl Channel {
    fn data_size(bits: &[u32; 6]) -> u64 {
        (CHANNEL_DATA - HEADER_SIZE) as u64 + bits.iter().map(|b| 1u64 << b).sum::<u64>()
    }

    /// Creates the segment of a client (an anonymous memfd).
    fn create(
        slot: u32,
        generation: u32,
        request_bits: [u32; 3],
        response_bits: [u32; 3],
    ) -> Result<Channel> {
        let bits = [
            request_bits[0],
            request_bits[1],
            request_bits[2],
            response_bits[0],
            response_bits[1],
            response_bits[2],
        ];
        let g = Geometry {
            kind: Kind::Channel,
            ring_bits: 0,
            slot_size: 1,
            slab_count: 0,
            data_size: Self::data_size(&bits),
        };
        let mapped = Mapped::create_with(None, g, Default::default(), |m| {
            let line: &ClientLine = at(m, HEADER_SIZE);
            line.slot.store(slot, Ordering::Relaxed);
            line.generation.store(generation, Ordering::Relaxed);
            for (w, b) in line.ring_bits.iter().zip(bits) {
                w.store(b, Ordering::Relaxed);
            }
        })?;
        Ok(Channel { mapped, bits })
    }

    /// Checks a channel segment received from a server.
    fn checked(mapped: Mapped) -> Result<Channel> {
        fits(&mapped, CHANNEL_DATA, "channel")?;
        let line: &ClientLine = at(&mapped, HEADER_SIZE);
        let bits = std::array::from_fn(|i| line.ring_bits[i].load(Ordering::Relaxed));
        if bits
            .iter()
            .any(|b| !(12..=crate::msg::MAX_RING_BITS).contains(b))
            || Self::data_size(&bits) != mapped.geometry.data_size
        {
            return Err(Error::InvalidHeader(format!(
                "channel segment rings {bits:?} do not match its {} data bytes",
                mapped.geometry.data_size
            )));
        }
        Ok(Channel { mapped, bits })
    }

    pub(crate) fn line(&self) -> &ClientLine {
        at(&self.mapped, HEADER_SIZE)
    }

    pub(crate) fn doorbell_ptr(&self) -> std::ptr::NonNull<Doorbell> {
        std::ptr::NonNull::from(at::<Doorbell>(&self.mapped, HEADER_SIZE + LINE))
    }

    /// Ring `i` (0..3 requests, 3..6 responses) over the memory of this
    /// segment, with the sizes this side knows (never re-read from the
    /// segment once checked).
    fn raw(&self, i: usize) -> crate::ring::raw::RawRing {
        let indices: &RingIndices = at(&self.mapped, CHANNEL_RINGS + i * INDICES);
        let offset = CHANNEL_DATA + self.bits[..i].iter().map(|b| 1usize << b).sum::<usize>();
        assert!(offset + (1usize << self.bits[i]) <= self.mapped.segment.len());
        // SAFETY: indices and data lie inside the mapping (checked above),
        // which the handles keep alive through the segment Arc they own.
        unsafe {
            crate::ring::raw::RawRing::new(
                std::ptr::NonNull::from(indices),
                self.mapped.segment.base().add(offset),
                self.bits[i] as u8,
                1,
                true,
            )
        }
    }

    fn owner(&self) -> crate::ring::typed::Owner {
        self.mapped.segment.clone()
    }

    /// The sending rings of a direction (0 requests, 3 responses).
    fn senders(&self, first: usize) -> Result<[super::MessageSender; 3]> {
        Ok([
            super::MessageSender::new(self.raw(first), self.owner())?,
            super::MessageSender::new(self.raw(first + 1), self.owner())?,
            super::MessageSender::new(self.raw(first + 2), self.owner())?,
        ])
    }

    /// The receiving end of ring `i`.
    fn receiver(&self, i: usize) -> Result<super::MessageReceiver> {
        super::MessageReceiver::new(self.raw(i), self.owner())
    }

    /// The receiving rings of a direction.
    fn receivers(&self, first: usize) -> Result<[super::MessageReceiver; 3]> {
        Ok([
            self.receiver(first)?,
            self.receiver(first + 1)?,
            self.receiver(first + 2)?,
        ])
    }
}

/// The abstract Unix socket name of the channel `name`.
fn socket_name(name: &str) -> Result<Vec<u8>> {
    let path = crate::shm::resolve_name(name)?;
    let key = format!("ringmpsc-transport:{}", path.display()).into_bytes();
    if key.len() <= 100 {
        return Ok(key);
    }
    // Abstract names are at most 107 bytes: long paths go by their hash.
    let h = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    Ok(format!("ringmpsc-transport:#{h:016x}").into_bytes())
}

/// The abstract Unix socket of the channel `name`.
fn socket_addr(name: &str) -> Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    Ok(SocketAddr::from_abstract_name(socket_name(name)?)?)
}

/// Handshake: the client's hello and the server's answer.
const HELLO_MAGIC: u32 = u32::from_le_bytes(*b"RMCH");
const WELCOME_OK: u32 = 0;
const WELCOME_FULL: u32 = 1;
const WELCOME_REFUSED: u32 = 2;
const WELCOME_PROTOCOL: u32 = 3;

fn encode(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn decode<const N: usize>(bytes: &[u8]) -> Option<[u32; N]> {
    (bytes.len() == 4 * N).then(|| {
        std::array::from_fn(|i| {
            u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"))
        })
    })
}

/// Sends `payload` under `policy`, checking `alive` between waits; returns
/// false when the policy dropped a Low message.
fn send_with_policy(
    tx: &mut PrioritySender,
    p: Priority,
    payload: &[u8],
    policy: SendPolicy,
    alive: impl Fn() -> Result<()>,
) -> Result<bool> {
    match tx.send(p, payload) {
        Err(Error::Full) => {}
        other => return other.map(|()| true),
    }
    let limit = match policy {
        SendPolicy::Fail => return Err(Error::Full),
        SendPolicy::DropLow(_) if p == Priority::Low => return Ok(false),
        SendPolicy::Block(t) | SendPolicy::DropLow(t) => t,
    };
    // Room usually comes within microseconds: retry before any system call.
    let backoff = crate::wait::Backoff::new();
    while !backoff.is_completed() {
        backoff.snooze();
        match tx.send(p, payload) {
            Err(Error::Full) => {}
            other => return other.map(|()| true),
        }
    }
    let deadline = Deadline::after(limit);
    loop {
        alive()?;
        let slice = deadline.slice(LIVENESS_SLICE).ok_or(Error::TimedOut)?;
        match tx.send_waiting(p, payload, slice) {
            Err(Error::TimedOut) => continue,
            other => return other.map(|()| true),
        }
    }
}

/// Polls before sleeping: this many checks with a pause between them (a
/// reply a few microseconds away costs no system call)...
const SPIN_CHECKS: u32 = 512;
/// ...then this many with a yield between them (on a busy machine the peer
/// may need our CPU), then a futex sleep.
const YIELD_CHECKS: u32 = 16;

/// Polls `ready()` (spinning, then yielding), then sleeps in slices of at
/// most [`LIVENESS_SLICE`], checking `alive` before each; `TimedOut` after
/// `timeout`.
fn wait_until(
    timeout: Option<Duration>,
    ready: impl Fn() -> bool,
    mut park: impl FnMut(Duration),
    alive: impl Fn() -> Result<()>,
) -> Result<()> {
    for i in 0..SPIN_CHECKS + YIELD_CHECKS {
        if ready() {
            return Ok(());
        }
        if i < SPIN_CHECKS {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    let deadline = Deadline::after(timeout);
    loop {
        if ready() {
            return Ok(());
        }
        alive()?;
        park(deadline.slice(LIVENESS_SLICE).ok_or(Error::TimedOut)?);
    }
}

#[cfg(test)]
mod tests;
