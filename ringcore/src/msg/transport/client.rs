//! A client of a transport channel.

use super::{
    decode, encode, send_with_policy, socket_addr, wait_until, Channel, ClientId, Control,
    SendPolicy, HELLO_MAGIC, PROTOCOL, STATE_RUNNING, WELCOME_FULL, WELCOME_OK, WELCOME_PROTOCOL,
    WELCOME_REFUSED,
};
use crate::error::{Error, Result};
use crate::msg::priority::{PriorityReceiver, PrioritySender};
use crate::msg::{Message, Priority};
use crate::shm::fdpass::recv_with_fds;
use crate::shm::layout::Kind;
use crate::shm::liveness::{monotonic_ns, Claim, SideWords};
use crate::shm::ring::Mapped;
use crate::sync::Ordering;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

/// Options of a [`Client`].
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// How long `connect` waits for the server's control segment and
    /// answer (default 1 s).
    pub connect_timeout: Duration,
    /// What a send does when the request ring of its priority is full
    /// (default: wait without limit, while the server lives).
    pub policy: SendPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(1),
            policy: SendPolicy::Block(None),
        }
    }
}

/// A response read in place from the client's ring; freed when dropped.
pub struct Response<'a> {
    /// Its priority.
    pub priority: Priority,
    msg: Message<'a>,
}

impl Response<'_> {
    /// The payload, in place.
    pub fn payload(&self) -> &[u8] {
        self.msg.payload()
    }
}

/// A client of a transport channel: sends requests to the server and
/// receives its responses, on rings of its own. `Send`; one thread at a
/// time. Dropping it (or [`close`](Self::close)) frees its slot.
pub struct Client {
    pub(super) control: Control,
    /// The channel segment (the rings hold its mapping too).
    pub(super) _channel: Channel,
    requests: PrioritySender,
    responses: PriorityReceiver,
    socket: UnixStream,
    id: ClientId,
    policy: SendPolicy,
    dropped: u64,
    _claim: Arc<Claim>,
}

impl Client {
    /// Connects to the channel `name`. Errors: `Disconnected` (no live
    /// server), `Full` (every client slot is taken), `TimedOut` (no answer
    /// within `connect_timeout`), `InvalidHeader` (a server of another
    /// format or protocol version), `Io` with `PermissionDenied` (the
    /// server refused this user).
    pub fn connect(name: &str, options: ClientOptions) -> Result<Client> {
        let deadline = std::time::Instant::now() + options.connect_timeout;
        let mapped = match Mapped::open(name, Kind::Control, None, options.connect_timeout) {
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Disconnected)
            }
            other => other?,
        };
        let control = Control::checked(mapped)?;
        let socket = match UnixStream::connect_addr(&socket_addr(name)?) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(Error::Disconnected)
            }
            Err(e) => return Err(e.into()),
        };
        // The answer must come by the deadline (at least a millisecond on:
        // a zero read timeout would mean none).
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        // A server that refuses this user answers and closes at once, maybe
        // before the hello is written: its answer still waits to be read.
        let _ = std::io::Write::write_all(&mut &socket, &encode(&[HELLO_MAGIC, PROTOCOL]));
        let mut buf = [0u8; 16];
        let (n, mut fds) = match recv_with_fds(&socket, &mut buf) {
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(Error::TimedOut)
            }
            other => other?,
        };
        if n == 0 {
            return Err(Error::Disconnected);
        }
        let Some([status, slot, generation, protocol]) = decode::<4>(&buf[..n]) else {
            return Err(Error::InvalidHeader(
                "malformed answer from the server".into(),
            ));
        };
        match status {
            WELCOME_OK if fds.len() == 1 => {}
            WELCOME_FULL => return Err(Error::Full),
            WELCOME_REFUSED => {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the server refused the connection (another user)",
                )))
            }
            WELCOME_PROTOCOL => {
                return Err(Error::InvalidHeader(format!(
                "the server speaks transport protocol {protocol}, this library speaks {PROTOCOL}"
            )))
            }
            _ => {
                return Err(Error::InvalidHeader(format!(
                    "unexpected answer {status} from the server"
                )))
            }
        }
        let channel = Channel::checked(Mapped::from_fd(fds.remove(0), Kind::Channel, Some(1))?)?;
        let line = channel.line();
        if line.slot.load(Ordering::Relaxed) != slot
            || line.generation.load(Ordering::Relaxed) != generation
        {
            return Err(Error::InvalidHeader(
                "the channel segment is not the one announced".into(),
            ));
        }
        let claim = Claim::take(
            channel.mapped.segment.clone(),
            SideWords {
                pid: &line.pid,
                heartbeat: &line.heartbeat_ns,
            },
            "client",
            Duration::ZERO,
        )?;
        // SAFETY: the doorbells lie in the control segment (owned by
        // `control`, which lives as long as the client) and in the channel
        // segment the rings own.
        let (requests, responses) = unsafe {
            (
                PrioritySender::new(
                    channel.senders(0)?,
                    std::ptr::NonNull::from(control.doorbell()),
                ),
                PriorityReceiver::new(channel.receivers(3)?, channel.doorbell_ptr()),
            )
        };
        socket.set_nonblocking(true)?;
        Ok(Client {
            control,
            _channel: channel,
            requests,
            responses,
            socket,
            id: ClientId { slot, generation },
            policy: options.policy,
            dropped: 0,
            _claim: claim,
        })
    }

    /// This client's id, as the server sees it.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// `Disconnected` once the server shut down or died. The socket is the
    /// authority (a hostile client can scribble the control segment's state
    /// word, not close our socket): it is asked where `deep`, or when the
    /// state word says the server is no longer running.
    fn check(&self, deep: bool) -> Result<()> {
        let running = self.control.server().state.load(Ordering::Acquire) == STATE_RUNNING;
        if (deep || !running) && socket_closed(&self.socket) {
            return Err(Error::Disconnected);
        }
        Ok(())
    }

    /// Sends a request at `priority` under the client's [`SendPolicy`];
    /// false when the policy dropped a Low message. Errors: `Disconnected`,
    /// `Full`, `TimedOut`, `TooLarge`.
    pub fn send(&mut self, priority: Priority, payload: &[u8]) -> Result<bool> {
        let policy = self.policy;
        self.send_with(priority, payload, policy)
    }

    /// [`send`](Self::send) under `policy`.
    pub fn send_with(
        &mut self,
        priority: Priority,
        payload: &[u8],
        policy: SendPolicy,
    ) -> Result<bool> {
        self.check(false)?;
        let socket = &self.socket;
        let sent = send_with_policy(&mut self.requests, priority, payload, policy, || {
            if socket_closed(socket) {
                Err(Error::Disconnected)
            } else {
                Ok(())
            }
        })?;
        if !sent {
            self.dropped += 1;
        }
        Ok(sent)
    }

    /// Sends `payloads` in order at `priority`, publishing as many as fit at
    /// once with one index update (and at most one wake-up of the server),
    /// and waiting for room under the client's policy for the rest;
    /// returns how many were queued (fewer only when `DropLow` dropped the
    /// Low rest). The fast path for streams of small messages.
    pub fn send_many(&mut self, priority: Priority, payloads: &[&[u8]]) -> Result<usize> {
        self.check(false)?;
        let mut sent = 0;
        while sent < payloads.len() {
            let n = self
                .requests
                .send_many(priority, payloads[sent..].iter().copied())?;
            sent += n;
            if n == 0 {
                // Full: one message under the policy (waits, fails or drops).
                let policy = self.policy;
                if !self.send_with(priority, payloads[sent], policy)? {
                    return Ok(sent);
                }
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Claims room for a `len`-byte request, to write in place; publish
    /// with [`commit`](Self::commit).
    pub fn claim(&mut self, priority: Priority, len: usize) -> Result<&mut [u8]> {
        self.check(false)?;
        self.requests.claim(priority, len)
    }

    /// Publishes the first `len` bytes of the claimed request.
    pub fn commit(&mut self, len: usize) -> Result<()> {
        self.requests.commit(len)
    }

    /// Drops the claimed request.
    pub fn abort(&mut self) {
        self.requests.abort();
    }

    /// Largest payload of `priority`.
    pub fn max_message(&self, priority: Priority) -> usize {
        self.requests.max_message(priority)
    }

    /// The next response, highest priority first, in place (freed when
    /// dropped); `None` when nothing waits.
    pub fn try_recv(&mut self) -> Result<Option<Response<'_>>> {
        if !self.responses.has_any() {
            self.check(true)?;
            return Ok(None);
        }
        Ok(self
            .responses
            .try_recv()?
            .map(|(priority, msg)| Response { priority, msg }))
    }

    /// Waits up to `timeout` (`None`: no limit) for a response.
    /// `Disconnected` as soon as the server is gone and nothing is left.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Response<'_>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        // What woke us may have been the padding before a record that is
        // not published yet: wait again then.
        while !self.responses.probe_any()? {
            self.wait(deadline.map(|d| d.saturating_duration_since(std::time::Instant::now())))?;
        }
        let (priority, msg) = self
            .responses
            .try_recv()?
            .expect("probe_any saw a whole message");
        Ok(Response { priority, msg })
    }

    /// Copies the next response into `buf`: its priority and length, or
    /// `None` when nothing waits. A response longer than `buf` stays queued
    /// (`TooLarge`).
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<Option<(Priority, usize)>> {
        for p in Priority::ALL {
            if self.responses.has(p) {
                if let Some(n) = self.responses.recv_into_from(p, buf)? {
                    return Ok(Some((p, n)));
                }
            }
        }
        self.check(true)?;
        Ok(None)
    }

    /// Calls `f` for up to `max` responses in place, highest priority
    /// first; returns the count (0 when none).
    pub fn recv_batch(&mut self, max: usize, f: impl FnMut(Priority, &[u8])) -> Result<usize> {
        let n = self.responses.recv_batch(max, f)?;
        if n == 0 {
            self.check(true)?;
        }
        Ok(n)
    }

    /// Waits up to `timeout` until a response waits, sleeping on this
    /// client's doorbell. `TimedOut`; `Disconnected` when the server is gone.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        let responses = &self.responses;
        wait_until(
            timeout,
            || responses.has_any(),
            |slice| responses.park(slice),
            || {
                if socket_closed(&self.socket) {
                    Err(Error::Disconnected)
                } else {
                    Ok(())
                }
            },
        )
    }

    /// Rings the server's doorbell (sends already do when it sleeps).
    pub fn signal(&self) {
        self.requests.signal();
    }

    /// The fill of this client's fullest request ring, 0.0 to 1.0 (what
    /// the server sees too).
    pub fn backpressure(&self) -> f32 {
        self.requests.backpressure()
    }

    /// Low messages dropped by `SendPolicy::DropLow` so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether the server's socket is open and its heartbeat younger than
    /// `timeout` (the heartbeat tells a stopped server from a running one;
    /// it lives in the shared control segment, so it is advisory).
    pub fn is_server_alive(&self, timeout: Duration) -> bool {
        if self.check(true).is_err() {
            return false;
        }
        let beat = self.control.server().heartbeat_ns.load(Ordering::Acquire);
        monotonic_ns().saturating_sub(beat) <= timeout.as_nanos() as u64
    }

    /// The server's process.
    pub fn server_pid(&self) -> u32 {
        self.control.server().pid.load(Ordering::Relaxed)
    }

    /// Leaves the channel: the server frees this client's slot once it has
    /// read what was sent. Also done on drop.
    pub fn close(self) {}
}

/// Whether the peer closed `sock` (EOF or an error); one non-blocking peek.
fn socket_closed(sock: &UnixStream) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: a non-blocking peek into a local byte.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n == 0 || (n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock)
}
