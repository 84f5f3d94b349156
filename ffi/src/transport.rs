//! `rmpsc_server_*` / `rmpsc_client_*`: the server/client transport.

use crate::ring::{timeout_opt, Side};
use crate::shared::{name, put, rmpsc_permissions_t};
use crate::{call, call_infallible, non_null, out, out_opt};
use ringcore::msg::transport::{
    Admission, Client, ClientId, ClientOptions, SendPolicy, Server, ServerOptions,
};
use ringcore::msg::{Priority, Split};
use ringcore::Error;
use std::ffi::{c_char, c_int, c_void};
use std::time::Duration;

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
/// Send policy: wait for room up to `policy_timeout_ns` (negative: no limit).
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
    /// Timeout of RMPSC_POLICY_BLOCK / _DROP_LOW in ns (negative: no limit).
    pub policy_timeout_ns: i64,
    /// Mode and group of the channel's control segment, which every client
    /// opens (zero: 0600, the server's user only; clients of other users
    /// need a group they share and mode 0660).
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
    /// How long to wait for the server in ns (0: 1 s).
    pub connect_timeout_ns: i64,
    /// One of RMPSC_POLICY_* for requests.
    pub policy: c_int,
    /// Timeout of RMPSC_POLICY_BLOCK / _DROP_LOW in ns (negative: no limit).
    pub policy_timeout_ns: i64,
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

/// The server of a channel (opaque). One thread at a time.
pub struct rmpsc_server_t {
    s: Side<Server>,
}

/// A client of a channel (opaque). One thread at a time.
pub struct rmpsc_client_t {
    c: Side<Client>,
}

fn server<'a>(s: *mut rmpsc_server_t) -> Result<&'a Side<Server>, Error> {
    non_null(s, "server")?;
    // SAFETY: non-NULL and live by contract; the Side serialises access.
    Ok(unsafe { &(*s).s })
}

fn client<'a>(c: *mut rmpsc_client_t) -> Result<&'a Side<Client>, Error> {
    non_null(c, "client")?;
    // SAFETY: as for `server`.
    Ok(unsafe { &(*c).c })
}

fn priority(p: c_int) -> Result<Priority, Error> {
    u32::try_from(p)
        .ok()
        .and_then(Priority::from_index)
        .ok_or_else(|| Error::InvalidArgument(format!("priority {p} is not 0, 1 or 2")))
}

fn policy(p: c_int, timeout_ns: i64, default: SendPolicy) -> Result<SendPolicy, Error> {
    let t = timeout_opt(timeout_ns);
    Ok(match p {
        RMPSC_POLICY_DEFAULT => default,
        RMPSC_POLICY_FAIL => SendPolicy::Fail,
        RMPSC_POLICY_BLOCK => SendPolicy::Block(t),
        RMPSC_POLICY_DROP_LOW => SendPolicy::DropLow(t),
        p => return Err(Error::InvalidArgument(format!("unknown send policy {p}"))),
    })
}

fn id(c: rmpsc_client_id_t) -> ClientId {
    ClientId {
        slot: c.slot,
        generation: c.generation,
    }
}

fn c_id(c: ClientId) -> rmpsc_client_id_t {
    rmpsc_client_id_t {
        slot: c.slot,
        generation: c.generation,
    }
}

/// A writable buffer argument.
fn buf_arg<'a>(buf: *mut c_void, cap: usize) -> Result<&'a mut [u8], Error> {
    if cap == 0 {
        return Ok(&mut []);
    }
    non_null(buf, "buf")?;
    // SAFETY: non-NULL and, by the C contract, writable for `cap` bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) })
}

/// Creates the channel `name` (a bare name lives under /dev/shm) and starts
/// accepting clients; `options` may be NULL. Errors: RMPSC_EBUSY (a live
/// server holds the name), RMPSC_EINVAL, RMPSC_EIO. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_server_create(
    name: *const c_char,
    options: *const rmpsc_server_options_t,
    out_server: *mut *mut rmpsc_server_t,
) -> c_int {
    call(|| {
        non_null(out_server, "out")?;
        let mut o = ServerOptions::default();
        if !options.is_null() {
            // SAFETY: non-NULL and readable by contract.
            let c = unsafe { *options };
            if c.max_clients != 0 {
                o.max_clients = c.max_clients as usize;
            }
            if c.request_capacity != 0 {
                o.request_capacity = c.request_capacity as usize;
            }
            if c.response_capacity != 0 {
                o.response_capacity = c.response_capacity as usize;
            }
            if c.split != [0; 3] {
                o.split = Split {
                    critical: c.split[0],
                    high: c.split[1],
                    low: c.split[2],
                };
            }
            o.policy = policy(c.policy, c.policy_timeout_ns, o.policy)?;
            o.permissions = c.permissions.to_core();
            o.admission = Admission {
                users: crate::slice_arg(c.allow_users, c.allow_users_len)?.to_vec(),
                groups: crate::slice_arg(c.allow_groups, c.allow_groups_len)?.to_vec(),
            };
        }
        let s = Server::create(self::name(name)?, o)?;
        put(
            out_server,
            rmpsc_server_t {
                s: Side::new("server", s),
            },
        );
        Ok(())
    })
}

/// Shuts the server down (clients get RMPSC_EDISCONNECTED) and frees it.
/// NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_server_free(s: *mut rmpsc_server_t) {
    crate::free_handle(s)
}

/// Calls `f(ctx, request)` for up to `max` requests in place, every
/// client's Critical first, then High, then Low; the count goes to
/// `*count`. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_serve(
    s: *mut rmpsc_server_t,
    max: usize,
    f: rmpsc_serve_fn,
    ctx: *mut c_void,
    count: *mut usize,
) -> c_int {
    call(|| {
        let Some(f) = f else {
            return Err(Error::InvalidArgument("f is NULL".into()));
        };
        let n = server(s)?.enter(|s| {
            s.serve(max, |r| {
                let req = rmpsc_request_t {
                    client: c_id(r.client),
                    priority: r.priority as c_int,
                    data: r.payload().as_ptr().cast(),
                    len: r.payload().len(),
                };
                // SAFETY: the caller's callback, with its context and a
                // request valid for the duration of the call.
                unsafe { f(ctx, &req) };
            })
        })?;
        out_opt(count, n);
        Ok(())
    })
}

/// Copies the next request into `buf` (`cap` bytes), waiting up to
/// `timeout_ns` (0: do not wait; negative: no limit); sender, priority and
/// length go to the out-pointers. Errors: RMPSC_EEMPTY (timeout 0, nothing
/// waits), RMPSC_ETIMEDOUT, RMPSC_ETOOLARGE (`*len` says how big; the
/// request stays queued). Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_recv(
    s: *mut rmpsc_server_t,
    timeout_ns: i64,
    buf: *mut c_void,
    cap: usize,
    client: *mut rmpsc_client_id_t,
    prio: *mut c_int,
    len: *mut usize,
) -> c_int {
    call(|| {
        non_null(len, "len")?;
        let buf = buf_arg(buf, cap)?;
        let got = server(s)?.enter(|s| loop {
            match s.recv_into(buf) {
                Ok(Some(r)) => return Ok(r),
                Ok(None) if timeout_ns == 0 => return Err(Error::Empty),
                Ok(None) => s.wait(timeout_opt(timeout_ns))?,
                Err(Error::TooLarge { len: l, max }) => {
                    out_opt(len, l);
                    return Err(Error::TooLarge { len: l, max });
                }
                Err(e) => return Err(e),
            }
        })?;
        out_opt(client, c_id(got.0));
        out_opt(prio, got.1 as c_int);
        out(len, got.2)
    })
}

/// Waits up to `timeout_ns` until a request may be waiting. Errors:
/// RMPSC_ETIMEDOUT. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_wait(s: *mut rmpsc_server_t, timeout_ns: i64) -> c_int {
    call(|| server(s)?.enter(|s| s.wait(timeout_opt(timeout_ns))))
}

/// Sends `len` bytes to `client` at `priority` under the server's policy;
/// `*queued` (may be NULL) is false when RMPSC_POLICY_DROP_LOW dropped it.
/// Errors: RMPSC_EFULL, RMPSC_ETIMEDOUT, RMPSC_ETOOLARGE,
/// RMPSC_EDISCONNECTED (the client is gone). Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_send(
    s: *mut rmpsc_server_t,
    client: rmpsc_client_id_t,
    prio: c_int,
    data: *const c_void,
    len: usize,
    queued: *mut bool,
) -> c_int {
    call(|| {
        let p = priority(prio)?;
        let bytes = crate::bytes_arg(data, len)?;
        let q = server(s)?.enter(|s| s.send(id(client), p, bytes))?;
        out_opt(queued, q);
        Ok(())
    })
}

/// Claims room for a `len`-byte reply to `client`, to write in place at
/// `*buf`; publish with rmpsc_server_commit. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_claim(
    s: *mut rmpsc_server_t,
    client: rmpsc_client_id_t,
    prio: c_int,
    len: usize,
    buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        non_null(buf, "buf")?;
        let p = priority(prio)?;
        let ptr = server(s)?.enter(|s| Ok(s.claim(id(client), p, len)?.as_mut_ptr()))?;
        out(buf, ptr.cast())
    })
}

/// Publishes the first `len` bytes of the claimed reply. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_commit(s: *mut rmpsc_server_t, len: usize) -> c_int {
    call(|| server(s)?.enter(|s| s.commit(len)))
}

/// Wakes `client` if it sleeps in a wait. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_signal(s: *mut rmpsc_server_t, client: rmpsc_client_id_t) -> c_int {
    call(|| server(s)?.enter(|s| s.signal(id(client))))
}

/// Lists up to `max` connected clients into `infos`; the number listed goes
/// to `*count`. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_clients(
    s: *mut rmpsc_server_t,
    infos: *mut rmpsc_client_info_t,
    max: usize,
    count: *mut usize,
) -> c_int {
    call(|| {
        non_null(count, "count")?;
        if max > 0 {
            non_null(infos, "infos")?;
        }
        let list = server(s)?.enter(|s| Ok(s.clients()))?;
        let n = list.len().min(max);
        for (i, c) in list.iter().take(n).enumerate() {
            // SAFETY: `infos` has room for `max` entries by contract; i < max.
            unsafe {
                infos.add(i).write(rmpsc_client_info_t {
                    id: c_id(c.id),
                    pid: c.pid,
                    backpressure: c.backpressure,
                })
            };
        }
        out(count, n)
    })
}

/// The fill of `client`'s fullest request ring (0 to 1) to `*level`.
/// Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_backpressure(
    s: *mut rmpsc_server_t,
    client: rmpsc_client_id_t,
    level: *mut f32,
) -> c_int {
    call(|| out(level, server(s)?.enter(|s| s.backpressure(id(client)))?))
}

/// Whether `client` is connected and stamped its heartbeat within
/// `timeout_ns`. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_is_client_alive(
    s: *mut rmpsc_server_t,
    client: rmpsc_client_id_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        server(s)
            .and_then(|s| {
                s.enter(|s| {
                    Ok(s.is_client_alive(
                        id(client),
                        Duration::from_nanos(timeout_ns.max(0) as u64),
                    ))
                })
            })
            .unwrap_or(false)
    })
}

/// Disconnects `client`. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_disconnect(
    s: *mut rmpsc_server_t,
    client: rmpsc_client_id_t,
) -> c_int {
    call(|| server(s)?.enter(|s| s.disconnect(id(client))))
}

/// Connects to the channel `name`; `options` may be NULL. Errors:
/// RMPSC_EDISCONNECTED (no live server), RMPSC_EFULL (no free slot),
/// RMPSC_ETIMEDOUT (no answer within the connect timeout), RMPSC_EHEADER
/// (another protocol or format version), RMPSC_EIO (refused: a user the
/// server does not admit). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_client_connect(
    name: *const c_char,
    options: *const rmpsc_client_options_t,
    out_client: *mut *mut rmpsc_client_t,
) -> c_int {
    call(|| {
        non_null(out_client, "out")?;
        let mut o = ClientOptions::default();
        if !options.is_null() {
            // SAFETY: non-NULL and readable by contract.
            let c = unsafe { *options };
            if c.connect_timeout_ns > 0 {
                o.connect_timeout = Duration::from_nanos(c.connect_timeout_ns as u64);
            }
            o.policy = policy(c.policy, c.policy_timeout_ns, o.policy)?;
        }
        let c = Client::connect(self::name(name)?, o)?;
        put(
            out_client,
            rmpsc_client_t {
                c: Side::new("client", c),
            },
        );
        Ok(())
    })
}

/// Connects again once the server is gone (after RMPSC_EDISCONNECTED), to
/// the server that holds the name now, and carries over every request the
/// old one had not taken: they go first, in order. `*carried` (may be
/// NULL) is how many were carried; what does not fit yet waits in the
/// client (rmpsc_client_backlog) and goes with the next sends. Requests
/// the old server took but did not answer are the application's to send
/// again (at least once). Errors: RMPSC_EINVAL (the server is still
/// connected), those of rmpsc_client_connect. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_reconnect(c: *mut rmpsc_client_t, carried: *mut usize) -> c_int {
    call(|| {
        let n = client(c)?.enter(|c| c.reconnect())?;
        out_opt(carried, n);
        Ok(())
    })
}

/// Requests carried from a gone server that wait to be sent before new
/// ones (0 for NULL). Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_backlog(c: *mut rmpsc_client_t) -> usize {
    call_infallible(0, || {
        client(c).map_or(0, |c| c.enter(|c| Ok(c.backlog())).unwrap_or(0))
    })
}

/// Leaves the channel and frees the client. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_client_free(c: *mut rmpsc_client_t) {
    crate::free_handle(c)
}

/// This client's id, as the server sees it. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_id(c: *mut rmpsc_client_t, out_id: *mut rmpsc_client_id_t) -> c_int {
    call(|| out(out_id, c_id(client(c)?.enter(|c| Ok(c.id()))?)))
}

/// Sends `len` bytes at `priority` under the client's policy; `*queued`
/// (may be NULL) is false when RMPSC_POLICY_DROP_LOW dropped it. Errors:
/// RMPSC_EFULL, RMPSC_ETIMEDOUT, RMPSC_ETOOLARGE, RMPSC_EDISCONNECTED.
/// Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_send(
    c: *mut rmpsc_client_t,
    prio: c_int,
    data: *const c_void,
    len: usize,
    queued: *mut bool,
) -> c_int {
    call(|| {
        let p = priority(prio)?;
        let bytes = crate::bytes_arg(data, len)?;
        let q = client(c)?.enter(|c| c.send(p, bytes))?;
        out_opt(queued, q);
        Ok(())
    })
}

/// Sends `count` requests at `priority` (request i is `lens[i]` bytes at
/// `datas[i]`), publishing as many as fit at once and waiting for room
/// under the client's policy for the rest; how many were queued goes to
/// `*sent` (fewer only when RMPSC_POLICY_DROP_LOW dropped the rest).
/// Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_send_many(
    c: *mut rmpsc_client_t,
    prio: c_int,
    datas: *const *const c_void,
    lens: *const usize,
    count: usize,
    sent: *mut usize,
) -> c_int {
    call(|| {
        let p = priority(prio)?;
        let msgs = if count == 0 {
            Vec::new()
        } else {
            non_null(datas, "datas")?;
            non_null(lens, "lens")?;
            // SAFETY: by the C contract both arrays hold `count` entries.
            let (d, l) = unsafe {
                (
                    std::slice::from_raw_parts(datas, count),
                    std::slice::from_raw_parts(lens, count),
                )
            };
            d.iter()
                .zip(l)
                .map(|(&d, &l)| crate::bytes_arg(d, l))
                .collect::<Result<Vec<&[u8]>, Error>>()?
        };
        let n = client(c)?.enter(|c| c.send_many(p, &msgs))?;
        out_opt(sent, n);
        Ok(())
    })
}

/// Claims room for a `len`-byte request, to write in place at `*buf`;
/// publish with rmpsc_client_commit. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_claim(
    c: *mut rmpsc_client_t,
    prio: c_int,
    len: usize,
    buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        non_null(buf, "buf")?;
        let p = priority(prio)?;
        let ptr = client(c)?.enter(|c| Ok(c.claim(p, len)?.as_mut_ptr()))?;
        out(buf, ptr.cast())
    })
}

/// Publishes the first `len` bytes of the claimed request. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_commit(c: *mut rmpsc_client_t, len: usize) -> c_int {
    call(|| client(c)?.enter(|c| c.commit(len)))
}

/// Copies the next response into `buf`, waiting up to `timeout_ns` (0: do
/// not wait; negative: no limit); priority and length go to the
/// out-pointers. Errors: RMPSC_EEMPTY, RMPSC_ETIMEDOUT, RMPSC_ETOOLARGE
/// (`*len` says how big; it stays queued), RMPSC_EDISCONNECTED. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_recv(
    c: *mut rmpsc_client_t,
    timeout_ns: i64,
    buf: *mut c_void,
    cap: usize,
    prio: *mut c_int,
    len: *mut usize,
) -> c_int {
    call(|| {
        non_null(len, "len")?;
        let buf = buf_arg(buf, cap)?;
        let got = client(c)?.enter(|c| loop {
            match c.recv_into(buf) {
                Ok(Some(r)) => return Ok(r),
                Ok(None) if timeout_ns == 0 => return Err(Error::Empty),
                Ok(None) => c.wait(timeout_opt(timeout_ns))?,
                Err(Error::TooLarge { len: l, max }) => {
                    out_opt(len, l);
                    return Err(Error::TooLarge { len: l, max });
                }
                Err(e) => return Err(e),
            }
        })?;
        out_opt(prio, got.0 as c_int);
        out(len, got.1)
    })
}

/// Calls `f(ctx, priority, data, len)` for up to `max` responses in place,
/// highest priority first; the count goes to `*count`. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_recv_batch(
    c: *mut rmpsc_client_t,
    max: usize,
    f: rmpsc_response_fn,
    ctx: *mut c_void,
    count: *mut usize,
) -> c_int {
    call(|| {
        let Some(f) = f else {
            return Err(Error::InvalidArgument("f is NULL".into()));
        };
        let n = client(c)?.enter(|c| {
            c.recv_batch(max, |p, payload| {
                // SAFETY: the caller's callback with a payload valid for the call.
                unsafe { f(ctx, p as c_int, payload.as_ptr().cast(), payload.len()) }
            })
        })?;
        out_opt(count, n);
        Ok(())
    })
}

/// Waits up to `timeout_ns` until a response waits. Errors:
/// RMPSC_ETIMEDOUT, RMPSC_EDISCONNECTED. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_wait(c: *mut rmpsc_client_t, timeout_ns: i64) -> c_int {
    call(|| client(c)?.enter(|c| c.wait(timeout_opt(timeout_ns))))
}

/// Rings the server's doorbell. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_signal(c: *mut rmpsc_client_t) -> c_int {
    call(|| {
        client(c)?.enter(|c| {
            c.signal();
            Ok(())
        })
    })
}

/// The fill of this client's fullest request ring, 0 to 1 (-1 for NULL).
/// Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_backpressure(c: *mut rmpsc_client_t) -> f32 {
    call_infallible(-1.0, || {
        client(c)
            .and_then(|c| c.enter(|c| Ok(c.backpressure())))
            .unwrap_or(-1.0)
    })
}

/// Whether the server's socket is open and its heartbeat younger than
/// `timeout_ns`. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_is_server_alive(c: *mut rmpsc_client_t, timeout_ns: i64) -> bool {
    call_infallible(false, || {
        client(c)
            .and_then(|c| {
                c.enter(|c| Ok(c.is_server_alive(Duration::from_nanos(timeout_ns.max(0) as u64))))
            })
            .unwrap_or(false)
    })
}

/// Low messages dropped by RMPSC_POLICY_DROP_LOW so far. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_dropped(c: *mut rmpsc_client_t) -> u64 {
    call_infallible(0, || {
        client(c)
            .and_then(|c| c.enter(|c| Ok(c.dropped())))
            .unwrap_or(0)
    })
}
