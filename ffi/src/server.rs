//! `rmpsc_server_*`: the server of the transport: a channel name, the
//! clients' request rings, three priorities.

use crate::args::{
    duration, free_handle, handle, name, null_argument, read_in, slice, slice_mut, timeout, OptOut,
    Out,
};
use crate::shm::permissions;
use crate::side::Side;
use crate::transport::{
    c_id, id, policy, priority, rmpsc_client_id_t, rmpsc_client_info_t, rmpsc_request_t,
    rmpsc_serve_fn, rmpsc_server_options_t,
};
use crate::{call, call_infallible};
use ringcore::msg::transport::{Admission, Server, ServerOptions};
use ringcore::msg::Split;
use ringcore::Error;
use std::ffi::{c_char, c_int, c_void};

/// The server of a channel (opaque). One thread at a time.
pub struct rmpsc_server_t {
    s: Side<Server>,
}

fn server<'a>(s: *const rmpsc_server_t) -> Result<&'a Side<Server>, Error> {
    Ok(&handle(s, "server")?.s)
}

/// Creates the channel `name` (a bare name lives under /dev/shm) and starts
/// accepting clients; `options` may be NULL. Errors: RMPSC_EBUSY (a live
/// server holds the name), RMPSC_EINVAL, RMPSC_EIO. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_server_create(
    name: *const c_char,
    options: *const rmpsc_server_options_t,
    out: *mut *mut rmpsc_server_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let mut o = ServerOptions::default();
        if let Some(c) = read_in(options) {
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
            o.permissions = permissions(&c.permissions);
            o.admission = Admission {
                users: slice(c.allow_users, c.allow_users_len, "allow_users")?.to_vec(),
                groups: slice(c.allow_groups, c.allow_groups_len, "allow_groups")?.to_vec(),
            };
        }
        out.put(rmpsc_server_t {
            s: Side::new("server", Server::create(self::name(name)?, o)?),
        });
        Ok(())
    })
}

/// Shuts the server down (clients get RMPSC_EDISCONNECTED) and frees it.
/// NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_server_free(s: *mut rmpsc_server_t) {
    free_handle(s)
}

/// Calls `handler(ctx, request)` for up to `max` requests in place, every
/// client's Critical first, then High, then Low; the count goes to
/// `*out_count` (may be NULL). Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_serve(
    s: *mut rmpsc_server_t,
    max: usize,
    handler: rmpsc_serve_fn,
    ctx: *mut c_void,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let Some(f) = handler else {
            return Err(null_argument("handler"));
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
        OptOut::new(out_count).set(n);
        Ok(())
    })
}

/// Copies the next request into `buf` (`cap` bytes), waiting up to
/// `timeout_ns` for one (0: do not wait); sender, priority and length go
/// to the out-parameters. Errors: RMPSC_EEMPTY (timeout 0, nothing waits),
/// RMPSC_ETIMEDOUT, RMPSC_ETOOLARGE (the request is larger than `cap`: the
/// out-parameters name its sender, priority and length; it stays queued,
/// the turn goes on to the next client, and the next call with a buffer
/// that large takes it first; or rmpsc_server_disconnect its sender; a
/// buffer of the request ring's largest message, or rmpsc_server_serve,
/// never meets it). Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_recv(
    s: *mut rmpsc_server_t,
    buf: *mut c_void,
    cap: usize,
    timeout_ns: i64,
    out_client: *mut rmpsc_client_id_t,
    out_priority: *mut c_int,
    out_len: *mut usize,
) -> c_int {
    call(|| {
        let out_client = Out::new(out_client, "out_client")?;
        let out_priority = Out::new(out_priority, "out_priority")?;
        let out_len = Out::new(out_len, "out_len")?;
        let buf = slice_mut(buf.cast::<u8>(), cap, "buf")?;
        let (got, too_large) = server(s)?.enter(|s| {
            let got = s.recv_into_blocking(buf, timeout(timeout_ns));
            Ok((got, s.too_large()))
        })?;
        // A request too large is named too, for the caller to act on.
        let (named, outcome) = match got {
            Ok(request) => (Some(request), Ok(())),
            Err(e @ Error::TooLarge { .. }) => (too_large, Err(e)),
            Err(e) => (None, Err(e)),
        };
        if let Some((client, priority, len)) = named {
            out_client.set(c_id(client));
            out_priority.set(priority as c_int);
            out_len.set(len);
        }
        outcome
    })
}

/// Waits up to `timeout_ns` until a request may be waiting. Errors:
/// RMPSC_ETIMEDOUT. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_wait(s: *mut rmpsc_server_t, timeout_ns: i64) -> c_int {
    call(|| server(s)?.enter(|s| s.wait(timeout(timeout_ns))))
}

/// Sends `len` bytes to `client` at `priority` under the server's policy;
/// `*out_queued` (may be NULL) is false when RMPSC_POLICY_DROP_LOW dropped it.
/// Errors: RMPSC_EFULL, RMPSC_ETIMEDOUT, RMPSC_ETOOLARGE,
/// RMPSC_EDISCONNECTED (the client is gone). Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_send(
    s: *mut rmpsc_server_t,
    client: rmpsc_client_id_t,
    prio: c_int,
    data: *const c_void,
    len: usize,
    out_queued: *mut bool,
) -> c_int {
    call(|| {
        let p = priority(prio)?;
        let bytes = slice(data.cast::<u8>(), len, "data")?;
        let q = server(s)?.enter(|s| s.send(id(client), p, bytes))?;
        OptOut::new(out_queued).set(q);
        Ok(())
    })
}

/// Claims room for a `len`-byte reply to `client`, to write in place at
/// `*out_buf`; publish with rmpsc_server_commit. A claim not committed is
/// given up by the next claim, whatever its outcome. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_claim(
    s: *mut rmpsc_server_t,
    client: rmpsc_client_id_t,
    prio: c_int,
    len: usize,
    out_buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        let out_buf = Out::new(out_buf, "out_buf")?;
        let p = priority(prio)?;
        let ptr = server(s)?.enter(|s| Ok(s.claim(id(client), p, len)?.as_mut_ptr()))?;
        out_buf.set(ptr.cast());
        Ok(())
    })
}

/// Publishes the first `len` bytes of the claimed reply; on an error other
/// than RMPSC_EDISCONNECTED the claim stays as it was. Server thread.
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
/// to `*out_count`. Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_clients(
    s: *const rmpsc_server_t,
    infos: *mut rmpsc_client_info_t,
    max: usize,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let out_count = Out::new(out_count, "out_count")?;
        let infos = slice_mut(infos, max, "infos")?;
        let list = server(s)?.enter(|s| Ok(s.clients()))?;
        let mut n = 0;
        for (slot, c) in infos.iter_mut().zip(&list) {
            *slot = rmpsc_client_info_t {
                id: c_id(c.id),
                pid: c.pid,
                backpressure: c.backpressure,
            };
            n += 1;
        }
        out_count.set(n);
        Ok(())
    })
}

/// The fill of `client`'s fullest request ring (0 to 1) to `*out_level`.
/// Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_backpressure(
    s: *const rmpsc_server_t,
    client: rmpsc_client_id_t,
    out_level: *mut f32,
) -> c_int {
    call(|| {
        let out_level = Out::new(out_level, "out_level")?;
        out_level.set(server(s)?.enter(|s| s.backpressure(id(client)))?);
        Ok(())
    })
}

/// Whether `client` is connected and stamped its heartbeat within
/// `timeout_ns` (negative: any age). Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_is_client_alive(
    s: *const rmpsc_server_t,
    client: rmpsc_client_id_t,
    timeout_ns: i64,
) -> bool {
    call_infallible(false, || {
        server(s)
            .and_then(|s| s.enter(|s| Ok(s.is_client_alive(id(client), duration(timeout_ns)))))
            .unwrap_or(false)
    })
}

/// Disconnects `client`, also one that has left with requests still
/// queued (they are dropped). Errors: RMPSC_EDISCONNECTED (the client is
/// gone). Server thread.
#[no_mangle]
pub extern "C" fn rmpsc_server_disconnect(
    s: *mut rmpsc_server_t,
    client: rmpsc_client_id_t,
) -> c_int {
    call(|| server(s)?.enter(|s| s.disconnect(id(client))))
}
