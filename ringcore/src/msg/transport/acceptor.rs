//! The acceptor thread of a transport server: takes connections, refuses
//! other users at once (by the credentials the kernel gives for the
//! socket), handshakes with many connections at a time, each within its own
//! deadline, hands out slots and segments, and watches every client's
//! socket for its end.
//!
//! One `epoll` set holds the listening socket, the serving thread's wake-up
//! eventfd, the connections still in their handshake and the connected
//! clients' sockets. A connection that says nothing is dropped at its
//! deadline, and at most [`MAX_PENDING`] handshakes are open at once (the
//! oldest goes for a new one), so idle or slow connections can neither
//! block nor starve a client that says hello at once.

use super::server::{Conn, Shared, SLOT_BUSY, SLOT_FREE};
use super::{
    decode, encode, Channel, ClientId, Control, HELLO_MAGIC, PROTOCOL, STATE_RUNNING, WELCOME_FULL,
    WELCOME_OK, WELCOME_PROTOCOL, WELCOME_REFUSED,
};
use crate::error::Result;
use crate::msg::priority::{PriorityReceiver, PrioritySender};
use crate::shm::fdpass::send_with_fds;
use crate::shm::layout::realtime_ns;
use crate::sync::Ordering;
use crate::sys::event::{Epoll, READABLE};
use crate::sys::{process, socket};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a new connection has to say hello.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
/// Most handshakes in progress at once.
pub(super) const MAX_PENDING: usize = 64;
/// Longest sleep between checks of the stop flag and repairs of the
/// control segment.
const TICK: Duration = Duration::from_millis(100);

/// Who may connect besides the server's own user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// Other users whose clients are accepted (uids).
    pub users: Vec<u32>,
    /// Groups whose members' clients are accepted (gids): the client's
    /// effective group or any of its supplementary groups.
    pub groups: Vec<u32>,
}

/// A connection in its handshake.
struct Pending {
    sock: UnixStream,
    pid: u32,
    deadline: Instant,
    hello: [u8; 8],
    got: usize,
}

/// What an epoll event is about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Listener,
    Wake,
    Pending(RawFd),
    Client(usize),
}

impl Token {
    fn encode(self) -> u64 {
        match self {
            Token::Listener => 0,
            Token::Wake => 1,
            Token::Pending(fd) => 2 << 32 | fd as u32 as u64,
            Token::Client(slot) => 3 << 32 | slot as u64,
        }
    }

    fn decode(v: u64) -> Token {
        match v >> 32 {
            0 if v == 0 => Token::Listener,
            2 => Token::Pending(v as u32 as RawFd),
            3 => Token::Client(v as u32 as usize),
            _ => Token::Wake,
        }
    }
}

/// The acceptor thread's state.
pub(super) struct Acceptor {
    listener: UnixListener,
    shared: Arc<Shared>,
    /// The control segment clients map (sent with every welcome).
    control: Arc<Control>,
    /// The named one, whose client table inspectors read.
    public: Arc<Control>,
    bits: ([u32; 3], [u32; 3]),
    admission: Admission,
    epoll: Epoll,
    pending: HashMap<RawFd, Pending>,
    sockets: Vec<Option<(UnixStream, ClientId)>>,
    uid: u32,
}

impl Acceptor {
    pub(super) fn new(
        listener: UnixListener,
        shared: Arc<Shared>,
        control: Arc<Control>,
        public: Arc<Control>,
        bits: ([u32; 3], [u32; 3]),
        admission: Admission,
    ) -> Result<Acceptor> {
        let epoll = Epoll::new()?;
        epoll.add(listener.as_raw_fd(), READABLE, Token::Listener.encode())?;
        epoll.add(shared.wake.as_raw_fd(), READABLE, Token::Wake.encode())?;
        let slots = shared.slots.len();
        Ok(Acceptor {
            listener,
            shared,
            control,
            public,
            bits,
            admission,
            epoll,
            pending: HashMap::new(),
            sockets: (0..slots).map(|_| None).collect(),
            // The effective user, as the peer's credentials give it.
            uid: process::effective_uid(),
        })
    }

    pub(super) fn run(mut self) {
        // Acquire pairs with the Release store of `stop` in `Server::stop`.
        while !self.shared.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            let next_deadline = self.pending.values().map(|p| p.deadline).min();
            let timeout =
                next_deadline.map_or(TICK, |d| d.saturating_duration_since(now).min(TICK));
            let ready = self.epoll.wait(64, timeout).into_iter().map(Token::decode);
            self.repair();
            for token in ready {
                match token {
                    Token::Listener => self.accept_all(),
                    Token::Wake => self.take_kicks(),
                    Token::Pending(fd) => self.advance(fd),
                    Token::Client(slot) => {
                        if self.client_left(slot) {
                            self.drop_client(slot, true);
                        }
                    }
                }
            }
            let now = Instant::now();
            self.pending.retain(|_, p| p.deadline > now);
        }
        // Closing every socket tells every client the server is gone.
        self.sockets.iter_mut().for_each(|s| *s = None);
    }

    /// Rewrites what clients (the state word) and inspectors (the header)
    /// read from the control segment every client maps, in case a hostile
    /// client scribbled it (the server itself trusts none of it, and a
    /// connecting client only its size).
    fn repair(&self) {
        let m = &self.control.mapped;
        m.header().init(&m.geometry);
        let s = self.control.server();
        s.max_clients
            .store(self.shared.slots.len() as u32, Ordering::Relaxed);
        s.protocol.store(PROTOCOL, Ordering::Relaxed);
        // Release pairs with the clients' Acquire load of `state`
        // (`Client::check`): the fields above come with it.
        s.state.store(STATE_RUNNING, Ordering::Release);
    }

    /// Clients the serving thread wants disconnected.
    fn take_kicks(&mut self) {
        self.shared.wake.take();
        let kicked = std::mem::take(&mut self.shared.mail().kick);
        for id in kicked {
            // Only that client: its slot may hold a newer one by now.
            if self.sockets[id.slot as usize]
                .as_ref()
                .is_some_and(|(_, held)| *held == id)
            {
                self.drop_client(id.slot as usize, false);
            }
        }
    }

    /// Takes the waiting connections, at most [`MAX_PENDING`] a call (the
    /// listener stays readable for the rest: a flood of connections cannot
    /// hold the thread from hellos, departures, kicks and its stop flag):
    /// other users are answered and dropped at once, the rest start their
    /// handshake.
    fn accept_all(&mut self) {
        let mut swept = false;
        for _ in 0..MAX_PENDING {
            let sock = match self.listener.accept() {
                Ok((sock, _)) => sock,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // Out of descriptors (or the like): the connection stays
                    // queued, and the listener stays readable, so pause
                    // instead of spinning.
                    std::thread::sleep(Duration::from_millis(10));
                    return;
                }
            };
            let Ok(peer) = socket::peer(&sock) else {
                continue;
            };
            if sock.set_nonblocking(true).is_err() {
                continue;
            }
            if !self.admits(&peer, &sock) {
                let _ = send_with_fds(&sock, &answer(WELCOME_REFUSED, NO_CLIENT), &[]);
                continue;
            }
            if self.pending.len() >= MAX_PENDING && !swept {
                // Hellos that came meanwhile first (once a turn): their
                // clients are admitted, not evicted.
                let fds: Vec<RawFd> = self.pending.keys().copied().collect();
                fds.into_iter().for_each(|fd| self.advance(fd));
                swept = true;
            }
            if self.pending.len() >= MAX_PENDING {
                // The oldest handshake goes: a client says hello at once.
                if let Some(&oldest) = self
                    .pending
                    .iter()
                    .min_by_key(|(_, p)| p.deadline)
                    .map(|(fd, _)| fd)
                {
                    self.pending.remove(&oldest);
                }
            }
            let fd = sock.as_raw_fd();
            if self
                .epoll
                .add(fd, READABLE, Token::Pending(fd).encode())
                .is_ok()
            {
                self.pending.insert(
                    fd,
                    Pending {
                        sock,
                        pid: peer.pid,
                        deadline: Instant::now() + HANDSHAKE_TIMEOUT,
                        hello: [0; 8],
                        got: 0,
                    },
                );
            }
        }
    }

    /// Whether the peer is the server's user, an allowed user, or a member
    /// of an allowed group.
    fn admits(&self, peer: &socket::Peer, sock: &UnixStream) -> bool {
        let a = &self.admission;
        peer.uid == self.uid
            || a.users.contains(&peer.uid)
            || (!a.groups.is_empty()
                && (a.groups.contains(&peer.gid)
                    || socket::peer_groups(sock)
                        .iter()
                        .any(|g| a.groups.contains(g))))
    }

    /// Reads what a handshaking connection sent; with the whole hello, admits it.
    fn advance(&mut self, fd: RawFd) {
        let Some(p) = self.pending.get_mut(&fd) else {
            return;
        };
        let got = p.got;
        match std::io::Read::read(&mut &p.sock, &mut p.hello[got..]) {
            Ok(0) => {
                self.pending.remove(&fd);
            }
            Ok(n) => {
                p.got += n;
                if p.got == p.hello.len() {
                    let p = self.pending.remove(&fd).expect("present");
                    self.epoll.remove(fd);
                    let _ = self.admit(p);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                self.pending.remove(&fd);
            }
        }
    }

    /// Whether the client's socket says it is gone (EOF or error). A client
    /// sends nothing after its hello; stray bytes are read and ignored.
    fn client_left(&self, slot: usize) -> bool {
        self.sockets[slot]
            .as_ref()
            .is_some_and(|(sock, _)| socket::peer_closed(sock))
    }

    /// Closes a client's socket; `report` tells the serving thread.
    fn drop_client(&mut self, slot: usize, report: bool) {
        if let Some((_, id)) = self.sockets[slot].take() {
            // Release pairs with the serving thread's Acquire load of `departed`
            // when a send to this client finds its ring full.
            self.shared.departed[slot].store(id.generation, Ordering::Release);
            if report {
                self.shared.mail().departed.push(id);
                // Release pairs with the serving thread's Acquire load of `events`
                // (`Server::sync`, the wait in `Server::wait`): the mail is there.
                self.shared.events.fetch_add(1, Ordering::Release);
                self.control.doorbell().ring();
            }
        }
    }

    /// Answers a whole hello: a slot and the client's segment, or why not.
    fn admit(&mut self, p: Pending) -> Result<()> {
        let sock = p.sock;
        let reply = |words: Vec<u8>| send_with_fds(&sock, &words, &[]);
        match decode::<2>(&p.hello) {
            Some([HELLO_MAGIC, PROTOCOL]) => {}
            _ => return reply(answer(WELCOME_PROTOCOL, NO_CLIENT)),
        }
        let Some(slot) = (0..self.shared.slots.len()).find(|&s| {
            self.sockets[s].is_none()
                && self.shared.slots[s]
                    // Acquire pairs with the Release stores of SLOT_FREE: the slot's
                    // last client is torn down before the slot is reused.
                    .compare_exchange(SLOT_FREE, SLOT_BUSY, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
        }) else {
            return reply(answer(WELCOME_FULL, NO_CLIENT));
        };
        let generation = self.shared.generations[slot].fetch_add(1, Ordering::Relaxed) + 1;
        let id = ClientId {
            slot: slot as u32,
            generation,
        };
        let conn = match self.make_conn(id, p.pid) {
            Ok(c) => c,
            Err(e) => {
                // Release pairs with the Acquire of the slot's next compare_exchange.
                self.shared.slots[slot].store(SLOT_FREE, Ordering::Release);
                return Err(e);
            }
        };
        let e = self.public.entry(slot);
        e.pid.store(p.pid, Ordering::Relaxed);
        e.generation.store(generation, Ordering::Relaxed);
        e.connected_ns.store(realtime_ns(), Ordering::Relaxed);
        // Release: a reader of the client table that loads `state` with
        // Acquire sees the entry's fields above.
        e.state.store(1, Ordering::Release);
        // The serving thread has the client before the client has its
        // rings: nothing it sends can arrive unannounced. The segment is
        // kept here for the sending.
        let channel = Arc::clone(&conn.channel.mapped.segment);
        self.shared.mail().connected.push(conn);
        // Release pairs with the serving thread's Acquire load of `events`
        // (`Server::sync`, the wait in `Server::recv`): the mail is there.
        self.shared.events.fetch_add(1, Ordering::Release);
        let fds = [self.control.mapped.segment.fd(), channel.fd()];
        let welcome = send_with_fds(&sock, &answer(WELCOME_OK, id), &fds).and_then(|()| {
            Ok(self
                .epoll
                .add(sock.as_raw_fd(), READABLE, Token::Client(slot).encode())?)
        });
        self.sockets[slot] = Some((sock, id));
        if let Err(e) = welcome {
            self.drop_client(slot, true);
            return Err(e);
        }
        self.control.doorbell().ring();
        Ok(())
    }

    fn make_conn(&self, id: ClientId, pid: u32) -> Result<Conn> {
        let channel = Channel::create(id.slot, id.generation, self.bits.0, self.bits.1)?;
        // SAFETY: the doorbells lie in the mappings the rings' owners keep
        // alive: the control segment (held by `control`, which outlives the
        // conns of the server) and the channel segment.
        let (requests, responses) = unsafe {
            (
                PriorityReceiver::new(
                    channel.receivers(0)?,
                    std::ptr::NonNull::from(self.control.doorbell()),
                ),
                PrioritySender::new(channel.senders(3)?, channel.doorbell_ptr()),
            )
        };
        Ok(Conn::new(id, pid, requests, responses, channel))
    }
}

/// The id sent with a refusal.
const NO_CLIENT: ClientId = ClientId {
    slot: u32::MAX,
    generation: 0,
};

/// The server's answer to a hello.
fn answer(status: u32, id: ClientId) -> Vec<u8> {
    encode(&[status, id.slot, id.generation, PROTOCOL])
}
