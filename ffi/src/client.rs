//! `rmpsc_client_*`: a client of the transport: its request rings to the
//! server, the server's response rings to it.

use crate::args::{
    duration, free_handle, handle, name, null_argument, read_in, slice, slice_mut, timeout, OptOut,
    Out,
};
use crate::side::Side;
use crate::transport::{
    c_id, policy, priority, rmpsc_client_id_t, rmpsc_client_options_t, rmpsc_response_fn,
};
use crate::{call, call_infallible};
use ringcore::msg::transport::{Client, ClientOptions};
use ringcore::Error;
use std::ffi::{c_char, c_int, c_void};

/// A client of a channel (opaque). One thread at a time.
pub struct rmpsc_client_t {
    c: Side<Client>,
}

fn client<'a>(c: *const rmpsc_client_t) -> Result<&'a Side<Client>, Error> {
    Ok(&handle(c, "client")?.c)
}

/// Connects to the channel `name`; `options` may be NULL. Errors:
/// RMPSC_EDISCONNECTED (no live server), RMPSC_EFULL (no free slot),
/// RMPSC_ETIMEDOUT (no answer within the connect timeout), RMPSC_EHEADER
/// (another protocol or format version, or segments that are not sealed),
/// RMPSC_EIO with errno EACCES (a user the server does not admit, or a
/// server of a user this client does not trust). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_client_connect(
    name: *const c_char,
    options: *const rmpsc_client_options_t,
    out: *mut *mut rmpsc_client_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let mut o = ClientOptions::default();
        if let Some(c) = read_in(options) {
            if c.connect_timeout_ns != 0 {
                o.connect_timeout = duration(c.connect_timeout_ns);
            }
            o.policy = policy(c.policy, c.policy_timeout_ns, o.policy)?;
            // Root is trusted anyway: 0 names nobody else.
            o.server_user = (c.server_uid != 0).then_some(c.server_uid);
        }
        out.put(rmpsc_client_t {
            c: Side::new("client", Client::connect(self::name(name)?, o)?),
        });
        Ok(())
    })
}

/// Connects again once the server is gone (after RMPSC_EDISCONNECTED), to
/// the server that holds the name now, and carries over every request the
/// old one had not taken: they go first, in order. `*out_carried` (may be
/// NULL) is how many were carried; what does not fit yet waits in the
/// client (rmpsc_client_backlog) and goes with the next sends. Requests
/// the old server took but did not answer are the application's to send
/// again (at least once). Errors: RMPSC_EINVAL (the server is still
/// connected), those of rmpsc_client_connect. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_reconnect(c: *mut rmpsc_client_t, out_carried: *mut usize) -> c_int {
    call(|| {
        let n = client(c)?.enter(|c| c.reconnect())?;
        OptOut::new(out_carried).set(n);
        Ok(())
    })
}

/// Requests carried from a gone server that wait to be sent before new
/// ones (0 for NULL). Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_backlog(c: *const rmpsc_client_t) -> usize {
    call_infallible(0, || {
        client(c).map_or(0, |c| c.enter(|c| Ok(c.backlog())).unwrap_or(0))
    })
}

/// Leaves the channel and frees the client. NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_client_free(c: *mut rmpsc_client_t) {
    free_handle(c)
}

/// This client's id, as the server sees it. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_id(
    c: *const rmpsc_client_t,
    out_id: *mut rmpsc_client_id_t,
) -> c_int {
    call(|| {
        let out_id = Out::new(out_id, "out_id")?;
        out_id.set(c_id(client(c)?.enter(|c| Ok(c.id()))?));
        Ok(())
    })
}

/// Sends `len` bytes at `priority` under the client's policy; `*out_queued`
/// (may be NULL) is false when RMPSC_POLICY_DROP_LOW dropped it. Errors:
/// RMPSC_EFULL, RMPSC_ETIMEDOUT, RMPSC_ETOOLARGE, RMPSC_EDISCONNECTED.
/// Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_send(
    c: *mut rmpsc_client_t,
    prio: c_int,
    data: *const c_void,
    len: usize,
    out_queued: *mut bool,
) -> c_int {
    call(|| {
        let p = priority(prio)?;
        let bytes = slice(data.cast::<u8>(), len, "data")?;
        let q = client(c)?.enter(|c| c.send(p, bytes))?;
        OptOut::new(out_queued).set(q);
        Ok(())
    })
}

/// Sends `count` requests at `priority` (request i is `lens[i]` bytes at
/// `datas[i]`), publishing as many as fit at once and waiting for room
/// under the client's policy for the rest; how many were queued goes to
/// `*out_sent` (may be NULL). Fewer than `count` when
/// RMPSC_POLICY_DROP_LOW dropped the rest, or when an error stopped the
/// batch after some were queued: the call then succeeds with their count
/// and the next call reports the error. Errors (nothing queued): those of
/// rmpsc_client_send. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_send_many(
    c: *mut rmpsc_client_t,
    prio: c_int,
    datas: *const *const c_void,
    lens: *const usize,
    count: usize,
    out_sent: *mut usize,
) -> c_int {
    call(|| {
        let p = priority(prio)?;
        let (datas, lens) = (slice(datas, count, "datas")?, slice(lens, count, "lens")?);
        let msgs = datas
            .iter()
            .zip(lens)
            .map(|(&d, &l)| slice(d.cast::<u8>(), l, "datas"))
            .collect::<Result<Vec<&[u8]>, Error>>()?;
        let n = client(c)?.enter(|c| c.send_many(p, &msgs))?;
        OptOut::new(out_sent).set(n);
        Ok(())
    })
}

/// Claims room for a `len`-byte request, to write in place at `*out_buf`;
/// publish with rmpsc_client_commit. A claim not committed is given up by
/// the next claim, whatever its outcome. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_claim(
    c: *mut rmpsc_client_t,
    prio: c_int,
    len: usize,
    out_buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        let out_buf = Out::new(out_buf, "out_buf")?;
        let p = priority(prio)?;
        let ptr = client(c)?.enter(|c| Ok(c.claim(p, len)?.as_mut_ptr()))?;
        out_buf.set(ptr.cast());
        Ok(())
    })
}

/// Publishes the first `len` bytes of the claimed request. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_commit(c: *mut rmpsc_client_t, len: usize) -> c_int {
    call(|| client(c)?.enter(|c| c.commit(len)))
}

/// Copies the next response into `buf` (`cap` bytes), waiting up to
/// `timeout_ns` for one (0: do not wait); priority and length go to the
/// out-parameters. Errors: RMPSC_EEMPTY (timeout 0, nothing waits),
/// RMPSC_ETIMEDOUT, RMPSC_ETOOLARGE (the response is larger than `cap` and
/// stays queued; a buffer of the response ring's largest message, or
/// rmpsc_client_recv_batch, never meets it), RMPSC_EDISCONNECTED. Client
/// thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_recv(
    c: *mut rmpsc_client_t,
    buf: *mut c_void,
    cap: usize,
    timeout_ns: i64,
    out_priority: *mut c_int,
    out_len: *mut usize,
) -> c_int {
    call(|| {
        let out_priority = Out::new(out_priority, "out_priority")?;
        let out_len = Out::new(out_len, "out_len")?;
        let buf = slice_mut(buf.cast::<u8>(), cap, "buf")?;
        let (priority, len) =
            client(c)?.enter(|c| c.recv_into_blocking(buf, timeout(timeout_ns)))?;
        out_priority.set(priority as c_int);
        out_len.set(len);
        Ok(())
    })
}

/// Calls `handler(ctx, priority, data, len)` for up to `max` responses in
/// place, highest priority first; the count goes to `*out_count` (may be
/// NULL). Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_recv_batch(
    c: *mut rmpsc_client_t,
    max: usize,
    handler: rmpsc_response_fn,
    ctx: *mut c_void,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let Some(f) = handler else {
            return Err(null_argument("handler"));
        };
        let n = client(c)?.enter(|c| {
            c.recv_batch(max, |p, payload| {
                // SAFETY: the caller's callback with a payload valid for the call.
                unsafe { f(ctx, p as c_int, payload.as_ptr().cast(), payload.len()) }
            })
        })?;
        OptOut::new(out_count).set(n);
        Ok(())
    })
}

/// Waits up to `timeout_ns` until a response waits. Errors:
/// RMPSC_ETIMEDOUT, RMPSC_EDISCONNECTED. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_wait(c: *mut rmpsc_client_t, timeout_ns: i64) -> c_int {
    call(|| client(c)?.enter(|c| c.wait(timeout(timeout_ns))))
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

/// The fill of this client's fullest request ring (0 to 1) to
/// `*out_level`. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_backpressure(
    c: *const rmpsc_client_t,
    out_level: *mut f32,
) -> c_int {
    call(|| {
        let out_level = Out::new(out_level, "out_level")?;
        out_level.set(client(c)?.enter(|c| Ok(c.backpressure()))?);
        Ok(())
    })
}

/// Whether the server's socket is open and its heartbeat younger than
/// `timeout_ns` (negative: any age). Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_is_server_alive(c: *const rmpsc_client_t, timeout_ns: i64) -> bool {
    call_infallible(false, || {
        client(c)
            .and_then(|c| c.enter(|c| Ok(c.is_server_alive(duration(timeout_ns)))))
            .unwrap_or(false)
    })
}

/// Low messages dropped by RMPSC_POLICY_DROP_LOW so far. Client thread.
#[no_mangle]
pub extern "C" fn rmpsc_client_dropped(c: *const rmpsc_client_t) -> u64 {
    call_infallible(0, || {
        client(c)
            .and_then(|c| c.enter(|c| Ok(c.dropped())))
            .unwrap_or(0)
    })
}
