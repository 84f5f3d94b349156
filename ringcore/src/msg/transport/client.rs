//! A client of a transport channel.

use super::{
    decode, encode, send_with_policy, socket_name, wait_until, Channel, ClientId, Control,
    SendPolicy, HELLO_MAGIC, PROTOCOL, STATE_RUNNING, WELCOME_FULL, WELCOME_OK, WELCOME_PROTOCOL,
    WELCOME_REFUSED,
};
use crate::error::{Error, Result};
use crate::msg::priority::{PriorityReceiver, PrioritySender};
use crate::msg::{Message, Priority};
use crate::shm::fdpass::recv_with_fds;
use crate::shm::layout::Kind;
use crate::shm::liveness::{Claim, SideWords};
use crate::shm::Mapped;
use crate::sync::Ordering;
use crate::sys::{process, socket};
use crate::wait::{Deadline, LIVENESS_SLICE};
use std::cell::Cell;
use std::collections::VecDeque;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

/// Options of a [`Client`].
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// How long `connect` waits for the server to take the connection and
    /// answer (default 1 s).
    pub connect_timeout: Duration,
    /// What a send does when the request ring of its priority is full
    /// (default: wait without limit, while the server lives).
    pub policy: SendPolicy,
    /// A user whose server this client trusts besides its own user and
    /// root (default none): the server of a channel is whoever holds its
    /// name, and the kernel tells its user, so a process of any other
    /// user that takes a name over is refused.
    pub server_user: Option<u32>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(1),
            policy: SendPolicy::Block(None),
            server_user: None,
        }
    }
}

/// A response read in place from the client's ring; freed when dropped.
pub struct Response<'a> {
    /// Its priority.
    pub priority: Priority,
    msg: Message<'a>,
}

impl std::fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("priority", &self.priority)
            .field("message", &self.msg)
            .finish_non_exhaustive()
    }
}

impl Response<'_> {
    /// The payload, in place.
    pub fn payload(&self) -> &[u8] {
        self.msg.payload()
    }
}

/// One connection to a server: the control segment, this client's
/// channel segment and rings, and the socket that tells whether the
/// server lives.
pub(super) struct Link {
    pub(super) control: Control,
    /// The channel segment (the rings hold its mapping too).
    pub(super) channel: Channel,
    pub(super) requests: PrioritySender,
    responses: PriorityReceiver,
    pub(super) socket: UnixStream,
    id: ClientId,
    /// The server's process, as the kernel told it at connect.
    server_pid: u32,
    _claim: Arc<Claim>,
}

impl Link {
    /// Stores the client's count of dropped messages in its channel
    /// segment, where inspectors read it (a cold path: only after a drop).
    fn publish_dropped(&self, dropped: u64) {
        self.channel
            .line()
            .dropped
            .store(dropped, Ordering::Relaxed);
    }

    /// Connects and handshakes, waiting at most `connect_timeout`, in
    /// slices of at most [`LIVENESS_SLICE`] with `check` asked between them.
    fn open(
        name: &str,
        options: &ClientOptions,
        check: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Link> {
        let deadline = Deadline::after(Some(options.connect_timeout));
        let slice = || Deadline::after(Some(deadline.slice(LIVENESS_SLICE).unwrap_or_default()));
        let key = socket_name(name)?;
        let socket = loop {
            match socket::connect_abstract(&key, &slice()) {
                Ok(s) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(Error::Disconnected)
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut && !deadline.passed() => {
                    check()?
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(Error::TimedOut),
                Err(e) => return Err(e.into()),
            }
        };
        let server = socket::peer(&socket)?;
        let me = process::effective_uid();
        if ![me, 0].contains(&server.uid) && options.server_user != Some(server.uid) {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the server of {name} runs as user {}, which this client does not trust \
                     (ClientOptions::server_user)",
                    server.uid
                ),
            )));
        }
        socket.set_nonblocking(false)?;
        // A server that refuses this user answers and closes at once, maybe
        // before the hello is written: its answer still waits to be read.
        let _ = std::io::Write::write_all(&mut &socket, &encode(&[HELLO_MAGIC, PROTOCOL]));
        let mut buf = [0u8; 16];
        let (n, fds) = loop {
            // At least a millisecond: a zero read timeout would mean none.
            let wait = deadline.slice(LIVENESS_SLICE).unwrap_or_default();
            socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
            match recv_with_fds(&socket, &mut buf) {
                // A slice ended, or a signal came (its handler may want the
                // wait to end: `check` tells).
                Err(Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    if deadline.passed() {
                        return Err(Error::TimedOut);
                    }
                    check()?
                }
                other => break other?,
            }
        };
        if n == 0 {
            return Err(Error::Disconnected);
        }
        let Some([status, slot, generation, protocol]) = decode::<4>(&buf[..n]) else {
            return Err(Error::InvalidHeader(
                "malformed answer from the server".into(),
            ));
        };
        let [control, channel] = match (status, <[_; 2]>::try_from(fds)) {
            (WELCOME_OK, Ok(fds)) => fds,
            (WELCOME_OK, Err(fds)) => {
                return Err(Error::InvalidHeader(format!(
                    "the server's welcome passed {} descriptor(s), not its 2 segments",
                    fds.len()
                )))
            }
            (WELCOME_FULL, _) => return Err(Error::Full),
            (WELCOME_REFUSED, _) => {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the server refused the connection (a user it does not admit)",
                )))
            }
            (WELCOME_PROTOCOL, _) => {
                return Err(Error::InvalidHeader(format!(
                "the server speaks transport protocol {protocol}, this library speaks {PROTOCOL}"
            )))
            }
            _ => {
                return Err(Error::InvalidHeader(format!(
                    "unexpected answer {status} from the server"
                )))
            }
        };
        // Both sealed: the server cannot shrink them under our mappings.
        let control = Control::for_client(control)?;
        let channel = Channel::checked(Mapped::from_sealed_fd(channel, Kind::Channel, Some(1))?)?;
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
            SideWords::new(&line.pid, &line.heartbeat_ns),
            "client",
            Duration::ZERO,
        )?;
        // SAFETY: the doorbells lie in the control segment (owned by
        // `control`, which lives as long as the link) and in the channel
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
        Ok(Link {
            control,
            channel,
            requests,
            responses,
            socket,
            id: ClientId { slot, generation },
            server_pid: server.pid,
            _claim: claim,
        })
    }

    /// Moves every request the server has not taken (its rings' heads say
    /// which) to the front of `backlog`, in order, and frees them: for a
    /// server that is gone. They are older than any request still in the
    /// backlog, which waits for the rings to have room. A ring the dead
    /// server left damaged gives what precedes the damage, and one whose
    /// head lies outside what this client wrote and had not seen read (the
    /// head moved back, or past this client's own tail) gives nothing: a
    /// dead server cannot make it send a request twice or one it never
    /// wrote. Returns how many were moved.
    fn take_unread(&self, backlog: &mut [VecDeque<Vec<u8>>; 3]) -> usize {
        let mut moved = 0;
        for (i, newer) in backlog.iter_mut().enumerate() {
            let mut queue = VecDeque::new();
            let (seen, tail) = self.requests.unread_span(i);
            if let Ok(mut rx) = self.channel.receiver(i) {
                let start = rx.read_position();
                let unread = tail.wrapping_sub(start);
                if unread <= tail.wrapping_sub(seen) {
                    // One message at a time, to this client's own tail
                    // (each takes at least a header's bytes): what lies
                    // past it, this client never wrote.
                    while rx.read_position().wrapping_sub(start) < unread {
                        let mut taken = None;
                        let Ok(1) = rx.recv_batch_while(1, |_, m| {
                            taken = Some(m.to_vec());
                            true
                        }) else {
                            break;
                        };
                        if rx.read_position().wrapping_sub(start) > unread {
                            break;
                        }
                        queue.extend(taken);
                        moved += 1;
                    }
                }
            }
            queue.append(newer);
            *newer = queue;
        }
        moved
    }
}

/// How many sends go by between two looks at the socket while nothing
/// else asks (a full ring or a receive asks at once): a server that died
/// is noticed by a client that only sends, for about 1 ns a send.
const SENDS_PER_CHECK: u32 = 1024;

/// A client of a transport channel: sends requests to the server and
/// receives its responses, on rings of its own. `Send`; one thread at a
/// time. Dropping it (or [`close`](Self::close)) frees its slot.
///
/// When the server dies, calls return `Disconnected` (sends at once, once
/// it is known); [`reconnect`](Self::reconnect) then joins the server that
/// holds the name next and carries over every request the dead one had not
/// taken.
pub struct Client {
    pub(super) link: Link,
    name: String,
    options: ClientOptions,
    dropped: u64,
    /// Requests a gone server never took, per priority, sent before new ones.
    backlog: [VecDeque<Vec<u8>>; 3],
    /// The server is known to be gone.
    gone: Cell<bool>,
    /// Sends since the socket was last asked.
    unchecked: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("id", &self.id())
            .field("backlog", &self.backlog())
            .field("dropped", &self.dropped)
            .field("server_gone", &self.gone.get())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the channel `name`. Errors: `Disconnected` (no live
    /// server), `Full` (every client slot is taken), `TimedOut` (no answer
    /// within `connect_timeout`), `InvalidHeader` (a server of another
    /// format or protocol version), `Io` with `PermissionDenied` (the
    /// server refused this user).
    pub fn connect(name: &str, options: ClientOptions) -> Result<Client> {
        Self::connect_checking(name, options, &mut || Ok(()))
    }

    /// [`connect`](Self::connect), calling `check` at least every 50 ms
    /// while it waits; an error from it ends the connect with that error
    /// (a binding that answers Ctrl-C during a long connect).
    pub fn connect_checking(
        name: &str,
        options: ClientOptions,
        check: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Client> {
        Ok(Client {
            link: Link::open(name, &options, check)?,
            name: name.to_owned(),
            options,
            dropped: 0,
            backlog: Default::default(),
            gone: Cell::new(false),
            unchecked: 0,
        })
    }

    /// Connects again once the server is gone (died or shut down), to the
    /// server that holds the name now, and carries over every request the
    /// old one had not taken (its rings' heads say which): they go first,
    /// in order, before any new request of their priority. What does not
    /// fit the new rings yet waits in this client ([`backlog`](Self::backlog))
    /// and goes out with the next sends. Returns how many were carried.
    ///
    /// Requests the old server took but did not answer are the
    /// application's to send again if it must (at least once); so are those
    /// behind damage a dead server left in its rings (a ring whose head it
    /// left outside what this client wrote and had not seen read gives
    /// none, so that no request goes twice or is made up), and carried ones
    /// larger than the new server's rings take (counted in
    /// [`dropped`](Self::dropped)). `InvalidArgument` while the old server
    /// is still connected; a failed connect changes nothing (the old rings
    /// keep their requests for the next attempt).
    pub fn reconnect(&mut self) -> Result<usize> {
        self.reconnect_checking(&mut || Ok(()))
    }

    /// [`reconnect`](Self::reconnect), calling `check` while it waits, as
    /// [`connect_checking`](Self::connect_checking) does.
    pub fn reconnect_checking(&mut self, check: &mut dyn FnMut() -> Result<()>) -> Result<usize> {
        if !socket_closed(&self.link.socket) {
            return Err(Error::InvalidArgument(
                "the server is still connected".into(),
            ));
        }
        self.gone.set(true);
        let link = Link::open(&self.name, &self.options, check)?;
        let carried = self.link.take_unread(&mut self.backlog);
        self.link = link;
        self.link.publish_dropped(self.dropped);
        self.gone.set(false);
        // What fits goes now; the rest waits for the next sends, which
        // report whatever stops it.
        for p in Priority::ALL {
            let _ = self.flush(p, SendPolicy::Fail);
        }
        Ok(carried)
    }

    /// Requests carried from a gone server that wait in this client to be
    /// sent before new ones.
    pub fn backlog(&self) -> usize {
        self.backlog.iter().map(VecDeque::len).sum()
    }

    /// Sends the backlog of priority `p` under `policy`.
    fn flush(&mut self, p: Priority, policy: SendPolicy) -> Result<()> {
        let Client {
            link,
            backlog,
            gone,
            dropped,
            ..
        } = self;
        while let Some(m) = backlog[p.index()].front() {
            let sent = match send_with_policy(&mut link.requests, p, m, policy, || {
                alive(&link.socket, gone)
            }) {
                Ok(sent) => sent,
                // Larger than the new server's rings take: it cannot go.
                Err(Error::TooLarge { .. }) => false,
                Err(e) => return Err(e),
            };
            if !sent {
                *dropped += 1;
                link.publish_dropped(*dropped);
            }
            backlog[p.index()].pop_front();
        }
        Ok(())
    }

    /// This client's id, as the server sees it.
    pub fn id(&self) -> ClientId {
        self.link.id
    }

    /// `Disconnected` once the server shut down or died. The socket is the
    /// authority (a hostile client can scribble the control segment's state
    /// word, not close our socket): it is asked where `deep`, or when the
    /// state word says the server is no longer running.
    #[inline]
    fn check(&self, deep: bool) -> Result<()> {
        if self.gone.get() {
            return Err(Error::Disconnected);
        }
        // Acquire pairs with the server's Release stores of `state` (running
        // in the acceptor, shut down in `Server::stop`).
        let running = self.link.control.server().state.load(Ordering::Acquire) == STATE_RUNNING;
        if deep || !running {
            alive(&self.link.socket, &self.gone)?;
        }
        Ok(())
    }

    /// [`check`](Self::check) for a send: deep every [`SENDS_PER_CHECK`] sends.
    #[inline]
    fn check_send(&mut self) -> Result<()> {
        self.unchecked += 1;
        let deep = self.unchecked >= SENDS_PER_CHECK;
        if deep {
            self.unchecked = 0;
        }
        self.check(deep)
    }

    /// Sends a request at `priority` under the client's [`SendPolicy`];
    /// false when the policy dropped a Low message. Errors: `Disconnected`,
    /// `Full`, `TimedOut`, `TooLarge`.
    #[inline]
    pub fn send(&mut self, priority: Priority, payload: &[u8]) -> Result<bool> {
        self.send_with(priority, payload, self.options.policy)
    }

    /// [`send`](Self::send) under `policy`.
    #[inline]
    pub fn send_with(
        &mut self,
        priority: Priority,
        payload: &[u8],
        policy: SendPolicy,
    ) -> Result<bool> {
        self.check_send()?;
        if !self.backlog[priority.index()].is_empty() {
            self.flush(priority, policy)?;
        }
        let (link, gone) = (&mut self.link, &self.gone);
        let sent = send_with_policy(&mut link.requests, priority, payload, policy, || {
            alive(&link.socket, gone)
        })?;
        if !sent {
            self.dropped += 1;
            self.link.publish_dropped(self.dropped);
        }
        Ok(sent)
    }

    /// Sends `payloads` in order at `priority`, publishing as many as fit at
    /// once with one index update (and at most one wake-up of the server),
    /// and waiting for room under the client's policy for the rest;
    /// returns how many were queued: fewer when `DropLow` dropped the Low
    /// rest, or when an error (`Full`, `TimedOut`, `TooLarge`,
    /// `Disconnected`) stopped it after some were queued, which the next
    /// call reports. The fast path for streams of small messages.
    pub fn send_many(&mut self, priority: Priority, payloads: &[&[u8]]) -> Result<usize> {
        self.send_many_with(priority, payloads, self.options.policy)
    }

    /// [`send_many`](Self::send_many) under `policy` instead of the client's.
    pub fn send_many_with(
        &mut self,
        priority: Priority,
        payloads: &[&[u8]],
        policy: SendPolicy,
    ) -> Result<usize> {
        self.check_send()?;
        if !self.backlog[priority.index()].is_empty() {
            self.flush(priority, policy)?;
        }
        // An error after some were queued ends the call with their count,
        // so that a caller never sends them again.
        let stop = |sent: usize, e: Error| if sent > 0 { Ok(sent) } else { Err(e) };
        let mut sent = 0;
        while sent < payloads.len() {
            let n = match self
                .link
                .requests
                .send_many(priority, payloads[sent..].iter().copied())
            {
                Ok(n) => n,
                Err(e) => return stop(sent, e),
            };
            sent += n;
            if n == 0 {
                // Full: one message under the policy (waits, fails or drops).
                match self.send_with(priority, payloads[sent], policy) {
                    Ok(true) => sent += 1,
                    Ok(false) => return Ok(sent),
                    Err(e) => return stop(sent, e),
                }
            }
        }
        Ok(sent)
    }

    /// Claims room for a `len`-byte request, to write in place; publish
    /// with [`commit`](Self::commit). A claim not committed is given up
    /// first, whatever the outcome.
    pub fn claim(&mut self, priority: Priority, len: usize) -> Result<&mut [u8]> {
        self.check_send()?;
        // The backlog goes first; what does not fit now makes the ring full.
        if !self.backlog[priority.index()].is_empty() {
            self.flush(priority, SendPolicy::Fail)?;
        }
        self.link.requests.claim(priority, len)
    }

    /// Publishes the first `len` bytes of the claimed request.
    pub fn commit(&mut self, len: usize) -> Result<()> {
        self.link.requests.commit(len)
    }

    /// Drops the claimed request.
    pub fn abort(&mut self) {
        self.link.requests.abort();
    }

    /// Largest payload of `priority`.
    pub fn max_message(&self, priority: Priority) -> usize {
        self.link.requests.max_message(priority)
    }

    /// The next response, highest priority first, in place (freed when
    /// dropped); `None` when nothing waits.
    pub fn try_recv(&mut self) -> Result<Option<Response<'_>>> {
        if !self.link.responses.has_any() {
            self.check(true)?;
            return Ok(None);
        }
        Ok(self
            .link
            .responses
            .try_recv()?
            .map(|(priority, msg)| Response { priority, msg }))
    }

    /// Waits up to `timeout` (`None`: no limit) for a response.
    /// `Disconnected` as soon as the server is gone and nothing is left.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Response<'_>> {
        let deadline = Deadline::after(timeout);
        // What woke us may have been the padding before a record that is
        // not published yet: wait again then.
        while !self.link.responses.probe_any()? {
            self.wait(deadline.left())?;
        }
        // Only a server that took back a published record gets here empty.
        let (priority, msg) =
            self.link.responses.try_recv()?.ok_or_else(|| {
                Error::Corrupt("the server took back a published response".into())
            })?;
        Ok(Response { priority, msg })
    }

    /// Copies the next response into `buf`: its priority and length, or
    /// `None` when nothing waits. A response longer than `buf` stays queued
    /// (`TooLarge`).
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<Option<(Priority, usize)>> {
        for p in Priority::ALL {
            if self.link.responses.has(p) {
                if let Some(n) = self.link.responses.recv_into_from(p, buf)? {
                    return Ok(Some((p, n)));
                }
            }
        }
        self.check(true)?;
        Ok(None)
    }

    /// [`recv_into`](Self::recv_into), waiting up to `timeout` (`None`: no
    /// limit) for a response, one deadline for the whole call: `Empty` when
    /// `timeout` is zero and nothing waits, `TimedOut` when it passed,
    /// `Disconnected` once the server is gone and nothing is left.
    pub fn recv_into_blocking(
        &mut self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<(Priority, usize)> {
        let deadline = Deadline::after(timeout);
        loop {
            match self.recv_into(buf)? {
                Some(r) => return Ok(r),
                None if timeout == Some(Duration::ZERO) => return Err(Error::Empty),
                None => self.wait(deadline.left())?,
            }
        }
    }

    /// Calls `f` for up to `max` responses in place, highest priority
    /// first; returns the count (0 when none).
    pub fn recv_batch(&mut self, max: usize, f: impl FnMut(Priority, &[u8])) -> Result<usize> {
        let n = self.link.responses.recv_batch(max, f)?;
        if n == 0 {
            self.check(true)?;
        }
        Ok(n)
    }

    /// Waits up to `timeout` until a response waits, sleeping on this
    /// client's doorbell. `TimedOut`; `Disconnected` when the server is gone.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        let responses = &self.link.responses;
        wait_until(
            timeout,
            || responses.has_any(),
            |slice| responses.park(slice),
            || alive(&self.link.socket, &self.gone),
        )
    }

    /// A registration that the server's next response wakes, for a
    /// [`WaitSet`](crate::wait_set::WaitSet): arm, look again, and wait
    /// only if nothing came.
    pub fn arm_recv(&self) -> crate::wait_set::Armed {
        self.link.responses.arm()
    }

    /// A registration that the server's next read of `priority` requests
    /// wakes: arm, send again, and wait only if the ring is still full.
    pub fn arm_send(&self, priority: Priority) -> crate::wait_set::Armed {
        self.link.requests.arm(priority)
    }

    /// Rings the server's doorbell (sends already do when it sleeps).
    pub fn signal(&self) {
        self.link.requests.signal();
    }

    /// The fill of this client's fullest request ring, 0.0 to 1.0 (what
    /// the server sees too).
    pub fn backpressure(&self) -> f32 {
        self.link.requests.backpressure()
    }

    /// Messages dropped so far: Low ones by `SendPolicy::DropLow`, and
    /// carried requests too large for a new server's rings.
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
        // Acquire pairs with the server's Release heartbeat stamp
        // (`SideWords::stamp`).
        let beat = self
            .link
            .control
            .server()
            .heartbeat_ns
            .load(Ordering::Acquire);
        crate::sys::process::stamped_within(beat, timeout)
    }

    /// The server's process.
    pub fn server_pid(&self) -> u32 {
        self.link.server_pid
    }

    /// Leaves the channel: the server frees this client's slot once it has
    /// read what was sent. Also done on drop.
    pub fn close(self) {}
}

/// `Disconnected`, remembered in `gone`, once the server closed `sock`.
fn alive(sock: &UnixStream, gone: &Cell<bool>) -> Result<()> {
    if gone.get() || socket_closed(sock) {
        gone.set(true);
        return Err(Error::Disconnected);
    }
    Ok(())
}

/// Whether the server closed `sock` (EOF or an error). The server says
/// nothing after its welcome: a byte it sent anyway is dropped, so that it
/// cannot hide the EOF behind it.
fn socket_closed(sock: &UnixStream) -> bool {
    crate::sys::socket::peer_closed(sock)
}
