//! What the server and client of the transport share: priorities, send
//! policies, client ids, options and the callback types.

use crate::args::timeout;
use crate::shm::rmpsc_permissions_t;
use ringcore::msg::transport::{ClientId, SendPolicy};
use ringcore::msg::Priority;
use ringcore::Error;
use std::ffi::{c_int, c_void};

/// Priority: time-critical control messages, read first.
pub const RMPSC_PRIORITY_CRITICAL: c_int = 0;
/// Priority: ordinary traffic.
pub const RMPSC_PRIORITY_HIGH: c_int = 1;
/// Priority: background traffic, dropped first under RMPSC_POLICY_DROP_LOW.
pub const RMPSC_PRIORITY_LOW: c_int = 2;

/// Send policy: the side's default (server: fail; client: block).
pub const RMPSC_POLICY_DEFAULT: c_int = 0;
/// Send policy: fail at once with RMPSC_EFULL when the ring is full.
pub const RMPSC_POLICY_FAIL: c_int = 1;
/// Send policy: wait for room up to `policy_timeout_ns`.
pub const RMPSC_POLICY_BLOCK: c_int = 2;
/// Send policy: drop a Low message at once (reported through `queued`),
/// wait for room for Critical and High as RMPSC_POLICY_BLOCK does.
pub const RMPSC_POLICY_DROP_LOW: c_int = 3;

/// A client as the server names it: slot and the slot's generation.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_client_id_t {
    /// Slot, 0 to max_clients - 1.
    pub slot: u32,
    /// The slot's connection count when this client connected.
    pub generation: u32,
}

/// Options of a server; zero-initialise it (`= {0}`) for the defaults.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_server_options_t {
    /// Most clients at once (0: 64).
    pub max_clients: u32,
    /// Bytes of each client's request rings (0: 1 MiB).
    pub request_capacity: u64,
    /// Bytes of each client's response rings (0: 1 MiB).
    pub response_capacity: u64,
    /// Percent of each direction for Critical, High, Low (all 0: 20/50/30).
    pub split: [u8; 3],
    /// One of RMPSC_POLICY_* for replies.
    pub policy: c_int,
    /// Timeout of RMPSC_POLICY_BLOCK / _DROP_LOW in ns.
    pub policy_timeout_ns: i64,
    /// Mode and group of the channel's named control segment, which
    /// inspectors read (zero: 0600, the server's user only; a shared group
    /// and 0640 let other users inspect it). Clients need no access to it;
    /// the write bits of the group and others are dropped.
    pub permissions: rmpsc_permissions_t,
    /// Other users whose clients are admitted: `allow_users_len` uids.
    pub allow_users: *const u32,
    /// Entries of `allow_users`.
    pub allow_users_len: usize,
    /// Groups whose members' clients are admitted: `allow_groups_len` gids.
    pub allow_groups: *const u32,
    /// Entries of `allow_groups`.
    pub allow_groups_len: usize,
}

/// Options of a client; zero-initialise it for the defaults.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_client_options_t {
    /// How long to wait for the server in ns (0: 1 s; negative: no limit).
    pub connect_timeout_ns: i64,
    /// One of RMPSC_POLICY_* for requests.
    pub policy: c_int,
    /// Timeout of RMPSC_POLICY_BLOCK / _DROP_LOW in ns.
    pub policy_timeout_ns: i64,
    /// A user whose server the client trusts besides its own user and root
    /// (0: none); a server of any other user is refused (RMPSC_EIO, EACCES).
    pub server_uid: u32,
}

/// A request handed to an rmpsc_server_serve callback; `data` is in place
/// in the client's ring and valid only during the callback.
#[repr(C)]
pub struct rmpsc_request_t {
    /// Who sent it.
    pub client: rmpsc_client_id_t,
    /// RMPSC_PRIORITY_*.
    pub priority: c_int,
    /// The payload.
    pub data: *const c_void,
    /// Payload bytes.
    pub len: usize,
}

/// What the server knows of a client.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rmpsc_client_info_t {
    /// The client's id.
    pub id: rmpsc_client_id_t,
    /// Its process.
    pub pid: u32,
    /// The fill of its fullest request ring, 0 to 1.
    pub backpressure: f32,
}

/// Called by rmpsc_server_serve for each request.
pub type rmpsc_serve_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, request: *const rmpsc_request_t)>;
/// Called by rmpsc_client_recv_batch for each response; `data` is valid
/// only during the call.
pub type rmpsc_response_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, priority: c_int, data: *const c_void, len: usize),
>;

pub(crate) fn priority(p: c_int) -> Result<Priority, Error> {
    u32::try_from(p)
        .ok()
        .and_then(Priority::from_index)
        .ok_or_else(|| Error::InvalidArgument(format!("priority {p} is not 0, 1 or 2")))
}

pub(crate) fn policy(p: c_int, timeout_ns: i64, default: SendPolicy) -> Result<SendPolicy, Error> {
    let t = timeout(timeout_ns);
    Ok(match p {
        RMPSC_POLICY_DEFAULT => default,
        RMPSC_POLICY_FAIL => SendPolicy::Fail,
        RMPSC_POLICY_BLOCK => SendPolicy::Block(t),
        RMPSC_POLICY_DROP_LOW => SendPolicy::DropLow(t),
        p => return Err(Error::InvalidArgument(format!("unknown send policy {p}"))),
    })
}

pub(crate) fn id(c: rmpsc_client_id_t) -> ClientId {
    ClientId {
        slot: c.slot,
        generation: c.generation,
    }
}

pub(crate) fn c_id(c: ClientId) -> rmpsc_client_id_t {
    rmpsc_client_id_t {
        slot: c.slot,
        generation: c.generation,
    }
}
