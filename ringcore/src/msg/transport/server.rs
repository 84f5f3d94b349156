//! The server of a transport channel.

use super::acceptor::{Acceptor, Admission};
use super::{
    send_with_policy, socket_addr, wait_until, Channel, ClientId, Control, SendPolicy, MAX_CLIENTS,
    PROTOCOL, STATE_RUNNING, STATE_SHUT_DOWN,
};
use crate::error::{Error, Result};
use crate::msg::priority::{PriorityReceiver, PrioritySender, Split};
use crate::msg::{Message, Priority};
use crate::shm::layout::{realtime_ns, HEADER_SIZE};
use crate::shm::liveness::{Claim, SideWords};
use crate::shm::Mapped;
use crate::shm::Permissions;
use crate::sync::Ordering;
use crate::sys::event::EventFd;
use crate::wait::Deadline;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Options of a [`Server`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Most clients connected at once (default 64, at most 4096).
    pub max_clients: usize,
    /// Bytes of the request rings of each client (client to server), split
    /// between the priorities by `split` (default 1 MiB).
    pub request_capacity: usize,
    /// Bytes of the response rings of each client (default 1 MiB).
    pub response_capacity: usize,
    /// Share of each priority (default 20 / 50 / 30 percent).
    pub split: Split,
    /// What a reply does when the client's response ring is full (default
    /// `Fail`: a server never blocks on one slow client unless asked to).
    pub policy: SendPolicy,
    /// Mode and group of the named control segment, which inspectors read
    /// (default 0600: the server's user only; a shared group and 0640 let
    /// other users inspect the channel). Clients need no access to it, and
    /// nobody but the server's user may write it: the write bits of the
    /// group and others are dropped.
    pub permissions: Permissions,
    /// Who may connect besides the server's own user (default: nobody).
    pub admission: Admission,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_clients: 64,
            request_capacity: 1 << 20,
            response_capacity: 1 << 20,
            split: Split::default(),
            policy: SendPolicy::Fail,
            permissions: Permissions::default(),
            admission: Admission::default(),
        }
    }
}

/// A request read in place from a client's ring; freed when dropped (or,
/// in [`Server::serve`], with the whole batch).
pub struct Request<'a> {
    /// Who sent it.
    pub client: ClientId,
    /// Its priority.
    pub priority: Priority,
    body: Body<'a>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("client", &self.client)
            .field("priority", &self.priority)
            .field("len", &self.payload().len())
            .finish_non_exhaustive()
    }
}

enum Body<'a> {
    /// A message of a batch, freed with the batch.
    Batch(&'a [u8]),
    /// A message freed when the request drops.
    Single(Message<'a>),
}

impl Request<'_> {
    /// The payload, in place in the client's ring.
    pub fn payload(&self) -> &[u8] {
        match &self.body {
            Body::Batch(p) => p,
            Body::Single(m) => m.payload(),
        }
    }
}

/// What the server knows of a connected client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientInfo {
    /// The client's id.
    pub id: ClientId,
    /// Its process, from the socket's peer credentials.
    pub pid: u32,
    /// The fill of its fullest request ring, 0.0 to 1.0.
    pub backpressure: f32,
}

/// One connected client, as the serving thread holds it.
pub(super) struct Conn {
    id: ClientId,
    pid: u32,
    requests: PriorityReceiver,
    responses: PrioritySender,
    pub(super) channel: Channel,
    /// The client is gone (its socket closed): deliver what it sent, then
    /// free the slot. The read positions when it went.
    departed_at: Option<[u64; 3]>,
    /// Adaptive skip: rounds left to skip, and the current skip span.
    skip_left: u8,
    skip_span: u8,
    /// Delivered something in the current pass.
    busy: bool,
}

impl Conn {
    pub(super) fn new(
        id: ClientId,
        pid: u32,
        requests: PriorityReceiver,
        responses: PrioritySender,
        channel: Channel,
    ) -> Conn {
        Conn {
            id,
            pid,
            requests,
            responses,
            channel,
            departed_at: None,
            skip_left: 0,
            skip_span: 0,
            busy: false,
        }
    }
}

/// Slot states shared with the acceptor thread.
pub(super) const SLOT_FREE: u32 = 0;
pub(super) const SLOT_BUSY: u32 = 1;

/// What the acceptor thread and the serving thread share.
pub(super) struct Shared {
    /// Bumped whenever `mail` has news.
    pub(super) events: AtomicU64,
    mail: Mutex<Mail>,
    pub(super) slots: Box<[AtomicU32]>,
    pub(super) generations: Box<[AtomicU32]>,
    /// Per slot, the generation of the last client that left (its socket
    /// closed): sends to it stop waiting.
    pub(super) departed: Box<[AtomicU32]>,
    pub(super) stop: AtomicBool,
    /// Wakes the acceptor's poll.
    pub(super) wake: EventFd,
}

/// What the acceptor thread hands the serving thread, and back.
#[derive(Default)]
pub(super) struct Mail {
    pub(super) connected: Vec<Conn>,
    pub(super) departed: Vec<ClientId>,
    /// Clients the serving thread wants disconnected.
    pub(super) kick: Vec<ClientId>,
}

impl Shared {
    pub(super) fn mail(&self) -> std::sync::MutexGuard<'_, Mail> {
        self.mail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_acceptor(&self) {
        self.wake.signal();
    }
}

/// The server of a transport channel. Serve with [`serve`](Self::serve) or
/// [`try_recv`](Self::try_recv); reply with [`send`](Self::send). `Send`:
/// one thread serves at a time.
///
/// ```
/// use ringcore::msg::transport::{Client, ClientOptions, Server, ServerOptions};
/// use ringcore::msg::Priority;
/// let name = format!("doc-transport-{}", std::process::id());
/// let mut server = Server::create(&name, ServerOptions::default())?;
/// let mut client = Client::connect(&name, ClientOptions::default())?;
/// client.send(Priority::Low, b"background")?;
/// client.send(Priority::Critical, b"urgent")?;
/// server.wait(Some(std::time::Duration::from_secs(5)))?;
/// let mut got = Vec::new();
/// server.serve(16, |r| got.push((r.client, r.priority, r.payload().to_vec())))?;
/// assert_eq!(got[0].2, b"urgent");                       // Critical first
/// server.send(got[0].0, Priority::High, b"done")?;       // reply on that client's rings
/// let reply = client.recv(Some(std::time::Duration::from_secs(5)))?;
/// assert_eq!((reply.priority, reply.payload()), (Priority::High, &b"done"[..]));
/// # Ok::<(), ringcore::Error>(())
/// ```
pub struct Server {
    /// The control segment clients map: a sealed memfd.
    pub(super) control: Arc<Control>,
    /// The named control segment, for discovery and inspectors.
    public: Arc<Control>,
    _claims: [Arc<Claim>; 2],
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    conns: Vec<Option<Conn>>,
    events_seen: u64,
    /// Where the next `try_recv` starts its round, for fairness.
    next_start: usize,
    /// The slot whose response ring holds a claimed message.
    claimed: Option<usize>,
    /// The request the last `recv_into` found too large for its buffer.
    too_large: Option<(ClientId, Priority, usize)>,
    /// The slots of conns whose client left and which are still
    /// delivering, so that freeing them visits no other slot.
    departing: Vec<usize>,
    policy: SendPolicy,
    options: ServerOptions,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("clients", &self.conns.iter().flatten().count())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The connection of client `id` in `conns`; `Disconnected` when it is
/// gone or leaving.
fn conn_in(conns: &mut [Option<Conn>], id: ClientId) -> Result<&mut Conn> {
    match conns.get_mut(id.slot as usize) {
        Some(Some(c)) if c.id == id && c.departed_at.is_none() => Ok(c),
        _ => Err(Error::Disconnected),
    }
}

impl Server {
    /// Creates the channel `name` (a bare name lives under `/dev/shm`) and
    /// starts accepting clients. `Busy` while a live server holds the name;
    /// the leftovers of a dead one are taken over.
    pub fn create(name: &str, options: ServerOptions) -> Result<Server> {
        if options.max_clients == 0 || options.max_clients > MAX_CLIENTS {
            return Err(Error::InvalidArgument(format!(
                "max_clients {} outside 1..={MAX_CLIENTS}",
                options.max_clients
            )));
        }
        // Once per process (about 20 ms): done here, not in the first
        // client's handshake.
        crate::sync::init_barriers();
        let request_bits = options.split.ring_bits(options.request_capacity)?;
        let response_bits = options.split.ring_bits(options.response_capacity)?;
        // The socket first: binding it is what makes this process the server.
        let listener = match UnixListener::bind_addr(&socket_addr(name)?) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(Error::Busy("channel name (a live server holds it)"))
            }
            Err(e) => return Err(e.into()),
        };
        listener.set_nonblocking(true)?;
        // Any control segment left under this name belongs to a dead server.
        let path = crate::shm::resolve_name(name)?;
        match crate::shm::unlink(&path) {
            Err(Error::Io(e)) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io(e))
            }
            _ => {}
        }
        let create = |name: Option<&str>, permissions: Permissions| -> Result<Arc<Control>> {
            let mapped = Mapped::create_with(
                name,
                Control::geometry(options.max_clients),
                permissions,
                |m| {
                    let s: &super::ServerLine = super::at(m, HEADER_SIZE);
                    s.max_clients
                        .store(options.max_clients as u32, Ordering::Relaxed);
                    s.protocol.store(PROTOCOL, Ordering::Relaxed);
                    s.started_ns.store(realtime_ns(), Ordering::Relaxed);
                    s.state.store(STATE_RUNNING, Ordering::Relaxed);
                },
            )?;
            Ok(Arc::new(Control::checked(mapped)?))
        };
        // Nobody but this user may write the named segment: a client that
        // could would also shrink it under the server's mapping.
        let public = create(
            Some(name),
            Permissions {
                mode: options.permissions.mode & !0o022,
                ..options.permissions
            },
        )?;
        // Gone again if the rest fails: nothing to mislead inspectors.
        public.mapped.segment.set_unlink_on_drop(true);
        let control = create(None, Permissions::default())?;
        let claim = |c: &Control| {
            let s = c.server();
            Claim::take(
                c.mapped.segment.clone(),
                SideWords::new(&s.pid, &s.heartbeat_ns),
                "server",
                Duration::ZERO,
            )
        };
        let claims = [claim(&control)?, claim(&public)?];
        let wake = EventFd::new()?;
        let shared = Arc::new(Shared {
            events: AtomicU64::new(0),
            mail: Mutex::new(Mail::default()),
            slots: (0..options.max_clients)
                .map(|_| AtomicU32::new(SLOT_FREE))
                .collect(),
            generations: (0..options.max_clients)
                .map(|_| AtomicU32::new(0))
                .collect(),
            departed: (0..options.max_clients)
                .map(|_| AtomicU32::new(0))
                .collect(),
            stop: AtomicBool::new(false),
            wake,
        });
        let acceptor = Acceptor::new(
            listener,
            Arc::clone(&shared),
            Arc::clone(&control),
            Arc::clone(&public),
            (request_bits, response_bits),
            options.admission.clone(),
        )?;
        let acceptor = std::thread::Builder::new()
            .name("ringmpsc-acceptor".into())
            .spawn(move || acceptor.run())?;
        // From here `stop` removes the name, while the socket is still ours.
        public.mapped.segment.set_unlink_on_drop(false);
        Ok(Server {
            control,
            public,
            _claims: claims,
            shared,
            acceptor: Some(acceptor),
            conns: (0..options.max_clients).map(|_| None).collect(),
            events_seen: 0,
            next_start: 0,
            claimed: None,
            too_large: None,
            departing: Vec::new(),
            policy: options.policy,
            options,
        })
    }

    /// The options the server was created with.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// Takes in clients that connected and marks those that left (one
    /// Relaxed load when nothing changed).
    #[inline]
    fn sync(&mut self) {
        // Acquire pairs with the acceptor's Release `fetch_add` of `events`:
        // the mail it pushed before is there.
        let events = self.shared.events.load(Ordering::Acquire);
        if events != self.events_seen {
            self.sync_slow(events);
        }
    }

    #[cold]
    fn sync_slow(&mut self, events: u64) {
        self.events_seen = events;
        let mut mail = self.shared.mail();
        for conn in mail.connected.drain(..) {
            let slot = conn.id.slot as usize;
            self.conns[slot] = Some(conn);
        }
        let departed: Vec<ClientId> = mail.departed.drain(..).collect();
        drop(mail);
        for id in departed {
            let slot = id.slot as usize;
            if let Some(c) = self.conns[slot].as_mut().filter(|c| c.id == id) {
                if c.departed_at.is_none() {
                    c.departed_at = Some(c.requests.read_positions());
                    self.departing.push(slot);
                }
                c.skip_left = 0;
            }
            self.reap(slot);
        }
    }

    /// Frees the slot of a departed client whose requests are all
    /// delivered: all it had sent when it went. One that goes on writing
    /// (alive, its socket closed) gets at most a ring's worth more read.
    /// Whether it was freed.
    fn reap(&mut self, slot: usize) -> bool {
        let done = self.conns[slot].as_ref().is_some_and(|c| {
            c.departed_at
                .is_some_and(|at| c.requests.drained_since(&at))
        });
        if done {
            self.free(slot);
        }
        done
    }

    /// Frees every departed client whose requests are all delivered.
    fn reap_departed(&mut self) {
        let mut k = 0;
        while k < self.departing.len() {
            // A freed slot leaves the list: the next one takes its place.
            if !self.reap(self.departing[k]) {
                k += 1;
            }
        }
    }

    fn free(&mut self, slot: usize) {
        if self
            .too_large
            .is_some_and(|(id, _, _)| id.slot as usize == slot)
        {
            self.too_large = None;
        }
        if let Some(c) = self.conns[slot].take() {
            if c.departed_at.is_some() {
                self.departing.retain(|&s| s != slot);
            }
            if self.claimed == Some(slot) {
                self.claimed = None;
            }
            let e = self.public.entry(slot);
            e.state.store(0, Ordering::Relaxed);
            e.pid.store(0, Ordering::Relaxed);
            // Release pairs with the Acquire of the acceptor's compare_exchange
            // on the slot: the entry is cleared before the slot is reused.
            self.shared.slots[slot].store(SLOT_FREE, Ordering::Release);
        }
    }

    /// A client whose rings are corrupt (a crashed or hostile process) is
    /// disconnected; what it sent before is delivered already.
    fn kick(&mut self, slot: usize) {
        if let Some(c) = &self.conns[slot] {
            self.shared.mail().kick.push(c.id);
            self.shared.wake_acceptor();
        }
        self.free(slot);
    }

    fn conn(&mut self, id: ClientId) -> Result<&mut Conn> {
        self.sync();
        conn_in(&mut self.conns, id)
    }

    /// Calls `f` for up to `max` requests, in place, visiting every client:
    /// first every client's Critical ring, then High, then Low, so a
    /// Critical request never waits behind a Low one. Idle clients are
    /// polled less often (after 1, 2, 4 ... 64 empty rounds; at once again
    /// when they have data), except for their Critical ring, checked every
    /// round; a call never returns 0 while any client has a request.
    /// Returns the count.
    pub fn serve(&mut self, max: usize, mut f: impl FnMut(&Request<'_>)) -> Result<usize> {
        self.sync();
        let (mut n, skipped) = self.serve_pass(max, &mut f);
        // A pass that found nothing never reports 0 while a client it
        // skipped holds data: a caller that then sleeps would wait for
        // nothing. (The pass has counted its skips down already.)
        if n == 0 && skipped && self.conns.iter().flatten().any(|c| c.requests.has_any()) {
            self.conns
                .iter_mut()
                .flatten()
                .for_each(|c| c.skip_left = 0);
            n = self.serve_pass(max, &mut f).0;
        }
        Ok(n)
    }

    /// One pass over the clients, taken in turn from `next_start` as
    /// [`try_recv`](Self::try_recv) takes them, so that one client with
    /// `max` requests always waiting cannot keep the others out; the count
    /// served, and whether an idle client was skipped.
    fn serve_pass(&mut self, max: usize, f: &mut impl FnMut(&Request<'_>)) -> (usize, bool) {
        let (mut n, mut skipped) = (0, false);
        let mut corrupt = Vec::new();
        let (count, start) = (self.conns.len(), self.next_start);
        let mut last_served = None;
        for p in Priority::ALL {
            for slot in (0..count).map(|k| (start + k) % count) {
                let Some(c) = self.conns[slot].as_mut() else {
                    continue;
                };
                if n >= max {
                    continue;
                }
                if p != Priority::Critical && c.skip_left > 0 {
                    skipped = true;
                    continue;
                }
                if !c.requests.has(p) {
                    continue;
                }
                let id = c.id;
                let mut deliver = |priority: Priority, payload: &[u8]| {
                    f(&Request {
                        client: id,
                        priority,
                        body: Body::Batch(payload),
                    })
                };
                match c.requests.recv_batch_from(p, max - n, &mut deliver) {
                    Ok(k) => {
                        n += k;
                        c.busy |= k > 0;
                        if k > 0 {
                            last_served = Some(slot);
                        }
                    }
                    Err(_) => corrupt.push(slot),
                }
            }
        }
        if let Some(slot) = last_served {
            self.next_start = (slot + 1) % count;
        }
        for c in self.conns.iter_mut().flatten() {
            if std::mem::take(&mut c.busy) || c.departed_at.is_some() {
                c.skip_span = 0;
                c.skip_left = 0;
            } else if c.skip_left > 0 {
                c.skip_left -= 1;
            } else {
                // Found empty: poll it after 1, 2, 4 ... 64 passes.
                c.skip_span = if c.skip_span == 0 {
                    1
                } else {
                    (c.skip_span * 2).min(64)
                };
                c.skip_left = c.skip_span;
            }
        }
        self.reap_departed();
        for slot in corrupt {
            self.kick(slot);
        }
        (n, skipped)
    }

    /// The priority and slot of the next request to take: the highest
    /// priority waiting, clients taken in turn from `next_start`.
    fn next_waiting(&mut self) -> Option<(Priority, usize)> {
        self.sync();
        let count = self.conns.len();
        // A departed client whose rings are drained is found by no search
        // below: free it here, also while others keep the server busy.
        self.reap_departed();
        loop {
            let found = Priority::ALL.into_iter().find_map(|p| {
                (0..count)
                    .map(|k| (self.next_start + k) % count)
                    .find(|&s| self.conns[s].as_ref().is_some_and(|c| c.requests.has(p)))
                    .map(|s| (p, s))
            });
            match found {
                // A departed client that writes on: it had its due.
                Some((_, slot)) if self.reap(slot) => continue,
                Some((_, slot)) => self.next_start = (slot + 1) % count,
                // The drained departed ones were freed above.
                None => {}
            }
            return found;
        }
    }

    /// The next request, in place (freed when dropped): the highest
    /// priority waiting across clients, clients taken in turn.
    pub fn try_recv(&mut self) -> Result<Option<Request<'_>>> {
        let Some((p, slot)) = self.next_waiting() else {
            return Ok(None);
        };
        let peeked = match self.conns[slot]
            .as_mut()
            .expect("found above")
            .requests
            .peek_from(p)
        {
            Ok(Some(peeked)) => peeked,
            Ok(None) => return Ok(None),
            // A client's damage is not the server's error: it is cut off.
            Err(_) => {
                self.kick(slot);
                return Ok(None);
            }
        };
        let c = self.conns[slot].as_mut().expect("found above");
        Ok(Some(Request {
            client: c.id,
            priority: p,
            body: Body::Single(c.requests.message(p, peeked)),
        }))
    }

    /// Copies the next request (as [`try_recv`](Self::try_recv) picks it)
    /// into `buf`: its sender, priority and length, or `None` when nothing
    /// waits. A request longer than `buf` stays queued (`TooLarge` with its
    /// length) and [`too_large`](Self::too_large) names it. The turn goes
    /// on to the next client, but the next call, if its buffer holds that
    /// request, takes it first. Until then it comes before the lower
    /// priorities of every client, as any request of its priority does.
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<Option<(ClientId, Priority, usize)>> {
        // Freeing its client's slot forgets it; `serve` may have taken it.
        let held = self.too_large.take().and_then(|(id, p, len)| {
            let slot = id.slot as usize;
            let waits = self.conns[slot].as_ref().is_some_and(|c| c.requests.has(p));
            (waits && len <= buf.len()).then_some((p, slot))
        });
        let Some((p, slot)) = held.or_else(|| self.next_waiting()) else {
            return Ok(None);
        };
        let c = self.conns[slot].as_mut().expect("found above");
        let id = c.id;
        match c.requests.recv_into_from(p, buf) {
            Ok(n) => Ok(n.map(|n| (id, p, n))),
            Err(Error::TooLarge { len, max }) => {
                self.too_large = Some((id, p, len));
                Err(Error::TooLarge { len, max })
            }
            Err(_) => {
                self.kick(slot);
                Ok(None)
            }
        }
    }

    /// The sender, priority and length of the request that the last
    /// [`recv_into`](Self::recv_into) (or its blocking form) found too large
    /// for its buffer: to take it with a buffer that large, or to
    /// [`disconnect`](Self::disconnect) its sender. `None` after a call
    /// that did not fail so, and once its sender is disconnected.
    pub fn too_large(&self) -> Option<(ClientId, Priority, usize)> {
        self.too_large
    }

    /// [`recv_into`](Self::recv_into), waiting up to `timeout` (`None`: no
    /// limit) for a request, one deadline for the whole call: `Empty` when
    /// `timeout` is zero and nothing waits, `TimedOut` when it passed.
    pub fn recv_into_blocking(
        &mut self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<(ClientId, Priority, usize)> {
        let deadline = Deadline::after(timeout);
        loop {
            match self.recv_into(buf)? {
                Some(r) => return Ok(r),
                None if timeout == Some(Duration::ZERO) => return Err(Error::Empty),
                None => self.wait(deadline.left())?,
            }
        }
    }

    /// A registration that the next request of any client, or a client
    /// joining or leaving, wakes, for a [`WaitSet`](crate::wait_set::WaitSet):
    /// arm, look again, and wait only if nothing came.
    pub fn arm(&self) -> crate::wait_set::Armed {
        let owner: crate::ring::typed::Owner = self.control.clone();
        // SAFETY: the doorbell lies in the control mapping, which `owner`
        // keeps valid for the registration's life.
        unsafe {
            crate::wait_set::Armed::new(
                crate::sync::Registration::on_doorbell(self.control.doorbell()),
                owner,
            )
        }
    }

    /// Waits up to `timeout` (`None`: no limit) until a request may be
    /// waiting, sleeping on the control segment's doorbell. `TimedOut`.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.sync();
        let control = Arc::clone(&self.control);
        let shared = Arc::clone(&self.shared);
        let seen = self.events_seen;
        let conns = &self.conns;
        let ready = || {
            // Acquire pairs with the acceptor's Release `fetch_add` of `events`.
            shared.events.load(Ordering::Acquire) != seen
                || conns.iter().flatten().any(|c| c.requests.has_any())
        };
        wait_until(
            timeout,
            ready,
            |slice| control.doorbell().park(ready, slice),
            || Ok(()),
        )
    }

    /// Sends `payload` to `client` at `priority` under the server's
    /// [`SendPolicy`]; false when the policy dropped a Low message.
    /// `Disconnected` when the client is gone.
    #[inline]
    pub fn send(&mut self, client: ClientId, priority: Priority, payload: &[u8]) -> Result<bool> {
        let policy = self.policy;
        self.send_with(client, priority, payload, policy)
    }

    /// [`send`](Self::send) under `policy`.
    #[inline]
    pub fn send_with(
        &mut self,
        client: ClientId,
        priority: Priority,
        payload: &[u8],
        policy: SendPolicy,
    ) -> Result<bool> {
        self.sync();
        // The fields apart, so that `shared` is borrowed, not cloned, per send.
        let (c, shared) = (conn_in(&mut self.conns, client)?, &self.shared);
        let slot = client.slot as usize;
        send_with_policy(&mut c.responses, priority, payload, policy, || {
            // Acquire pairs with the acceptor's Release store of `departed`.
            if shared.departed[slot].load(Ordering::Acquire) == client.generation {
                Err(Error::Disconnected)
            } else {
                Ok(())
            }
        })
    }

    /// Claims room for a `len`-byte reply to `client`, to write in place;
    /// publish with [`commit`](Self::commit). A claim not committed is given
    /// up by the next claim, whatever its outcome.
    pub fn claim(&mut self, client: ClientId, priority: Priority, len: usize) -> Result<&mut [u8]> {
        if let Some(slot) = self.claimed.take() {
            if let Some(c) = self.conns[slot].as_mut() {
                c.responses.abort();
            }
        }
        let slot = client.slot as usize;
        self.conn(client)?;
        let buf = self.conns[slot]
            .as_mut()
            .expect("checked by conn()")
            .responses
            .claim(priority, len)?;
        self.claimed = Some(slot);
        Ok(buf)
    }

    /// Publishes the first `len` bytes of the claimed reply. On an error
    /// other than `Disconnected` the claim stays as it was.
    pub fn commit(&mut self, len: usize) -> Result<()> {
        let Some(slot) = self.claimed else {
            return Err(Error::InvalidArgument("commit without a claim".into()));
        };
        let Some(c) = self.conns[slot].as_mut() else {
            self.claimed = None;
            return Err(Error::Disconnected);
        };
        c.responses.commit(len)?;
        self.claimed = None;
        Ok(())
    }

    /// Rings `client`'s doorbell, waking it if it sleeps in a wait.
    pub fn signal(&mut self, client: ClientId) -> Result<()> {
        self.conn(client)?.responses.signal();
        Ok(())
    }

    /// The connected clients.
    pub fn clients(&mut self) -> Vec<ClientInfo> {
        self.sync();
        self.conns
            .iter()
            .flatten()
            .filter(|c| c.departed_at.is_none())
            .map(|c| ClientInfo {
                id: c.id,
                pid: c.pid,
                backpressure: c.requests.backpressure(),
            })
            .collect()
    }

    /// The fill of `client`'s fullest request ring, 0.0 to 1.0.
    pub fn backpressure(&mut self, client: ClientId) -> Result<f32> {
        Ok(self.conn(client)?.requests.backpressure())
    }

    /// Whether `client` is connected and stamped its heartbeat within `timeout`.
    pub fn is_client_alive(&mut self, client: ClientId, timeout: Duration) -> bool {
        let Ok(c) = self.conn(client) else {
            return false;
        };
        // Acquire pairs with the client's Release heartbeat stamp
        // (`SideWords::stamp`).
        let beat = c.channel.line().heartbeat_ns.load(Ordering::Acquire);
        crate::sys::process::stamped_within(beat, timeout)
    }

    /// Disconnects `client` (its socket is closed; what it sent before is
    /// dropped), also one that has left with requests still queued (a
    /// request too large for [`recv_into`](Self::recv_into), say).
    /// `Disconnected` when it is gone.
    pub fn disconnect(&mut self, client: ClientId) -> Result<()> {
        self.sync();
        let slot = client.slot as usize;
        // One that left and is drained is gone already.
        let held = matches!(self.conns.get(slot), Some(Some(c)) if c.id == client);
        if !held || self.reap(slot) {
            return Err(Error::Disconnected);
        }
        self.kick(slot);
        Ok(())
    }

    /// Stops the server: every client's next call returns `Disconnected`,
    /// sleepers are woken, the channel name is removed. Also done on drop.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Marks both control segments shut down.
    fn mark_shut_down(&self) {
        for c in [&self.control, &self.public] {
            // Release pairs with the clients' Acquire load of `state` in
            // `Client::check`.
            c.server().state.store(STATE_SHUT_DOWN, Ordering::Release);
        }
    }

    fn stop(&mut self) {
        if self.acceptor.is_none() {
            return;
        }
        self.mark_shut_down();
        // The name goes while the socket is still ours: no later server's
        // control segment can be removed by mistake.
        let _ = self.public.mapped.segment.unlink();
        // Release pairs with the acceptor's Acquire load of `stop` in
        // `Acceptor::run`.
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake_acceptor();
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        // Again: the acceptor's last repair may have raced the first store.
        self.mark_shut_down();
        // Every socket is closed now: wake the clients that sleep, so they
        // see it at once.
        self.sync();
        for c in self.conns.iter().flatten() {
            c.responses.signal();
        }
        // Conns that connected in the meantime are dropped with the mail.
        self.conns.iter_mut().for_each(|c| *c = None);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
