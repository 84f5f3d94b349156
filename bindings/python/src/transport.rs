//! `ringmpsc.Server` / `ringmpsc.Client`: the server/client transport.

use crate::aio::Armed;
use crate::errors::{to_py, IntoPy};
use crate::util::{
    batch_or_timeout, batch_timeout, blocking, blocking_apart, detach_checking, is_timeout, open,
    peek, raised_after, seconds, side, slice_of, timeout_arg, Bytes, Repr,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use ringcore::msg::transport::{
    Admission, Client as CoreClient, ClientId, ClientOptions, SendPolicy, Server as CoreServer,
    ServerOptions,
};
use ringcore::msg::{Priority, Split};
use ringcore::shm::Permissions;
use ringcore::{Deadline, Error};
use std::sync::Mutex;
use std::time::Duration;

/// A request as Python sees it: `(client, priority, bytes)`.
type PyRequest<'py> = ((u32, u32), u32, Bound<'py, PyBytes>);
/// A client as `Server.clients()` lists it: `(client, pid, backpressure)`.
type PyClientInfo = ((u32, u32), u32, f32);

const SERVER: &str = "server";
const CLIENT: &str = "client";

fn priority(p: u32) -> PyResult<Priority> {
    Priority::from_index(p).ok_or_else(|| {
        PyValueError::new_err(format!(
            "priority {p} is not 0 (critical), 1 (high) or 2 (low)"
        ))
    })
}

fn policy(name: Option<&str>, timeout: Option<f64>, default: SendPolicy) -> PyResult<SendPolicy> {
    let t = timeout_arg(timeout)?;
    Ok(match name {
        None => default,
        Some("fail") => SendPolicy::Fail,
        Some("block") => SendPolicy::Block(t),
        Some("drop_low") => SendPolicy::DropLow(t),
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "policy {other:?} is not 'fail', 'block' or 'drop_low'"
            )))
        }
    })
}

fn client_id(id: (u32, u32)) -> ClientId {
    ClientId {
        slot: id.0,
        generation: id.1,
    }
}

fn id_tuple(id: ClientId) -> (u32, u32) {
    (id.slot, id.generation)
}

/// Calls `take` on `target` until it took something. `wait`: `None` takes
/// once (a poll); `Some(timeout)` waits with `wait_for` (GIL released, in
/// slices) between tries, up to `timeout` (None: no limit), as a wake-up
/// may come with nothing to take.
fn take_or_wait<T: Send>(
    py: Python<'_>,
    target: &mut T,
    wait: Option<Option<Duration>>,
    mut take: impl FnMut(&mut T) -> PyResult<usize>,
    wait_for: impl Fn(&mut T, Option<Duration>) -> Result<(), Error> + Sync,
) -> PyResult<()> {
    let Some(timeout) = wait else {
        return take(target).map(drop);
    };
    let deadline = Deadline::after(timeout);
    while take(target)? == 0 {
        let left = deadline.left();
        if left.is_some_and(|l| l.is_zero()) {
            break;
        }
        match blocking(py, left, |w| wait_for(target, slice_of(w))) {
            Ok(()) => {}
            Err(e) if is_timeout(py, &e) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends at once with the GIL held; only a send that must wait for room
/// releases the GIL (in slices, so signals are handled).
fn send_fast_then_wait(
    py: Python<'_>,
    policy: SendPolicy,
    send: impl FnMut(SendPolicy) -> Result<bool, Error> + Send,
) -> PyResult<bool> {
    send_fast_then_wait_apart(py, policy, send)?.py_err(py)
}

/// [`send_fast_then_wait`], keeping the library's error (`Ok(Err)`) apart
/// from a signal handler's exception (`Err`), as [`blocking_apart`] does.
fn send_fast_then_wait_apart(
    py: Python<'_>,
    policy: SendPolicy,
    mut send: impl FnMut(SendPolicy) -> Result<bool, Error> + Send,
) -> PyResult<Result<bool, Error>> {
    match send(SendPolicy::Fail) {
        Err(Error::Full) if policy != SendPolicy::Fail => {}
        other => return Ok(other),
    }
    let limit = match policy {
        SendPolicy::DropLow(t) | SendPolicy::Block(t) => t,
        SendPolicy::Fail => None,
    };
    let keep = |t| match policy {
        SendPolicy::DropLow(_) => SendPolicy::DropLow(t),
        _ => SendPolicy::Block(t),
    };
    blocking_apart(py, limit, |w| send(keep(slice_of(w))))
}

/// The server of a channel: `Server(name, max_clients=64, ...)`. Serves
/// every client (Critical first, then High, then Low) and replies on the
/// rings of the client a request came from. Client ids are `(slot,
/// generation)` tuples; priorities are 0 (critical), 1 (high), 2 (low).
/// `allow_users` and `allow_groups` admit clients of other users; `mode`
/// and `group` say who may inspect the channel (its named segment, which
/// only the server's user may write).
#[pyclass(module = "ringmpsc._ringmpsc", name = "Server")]
pub(crate) struct Server {
    s: Mutex<Option<CoreServer>>,
    name: String,
}

impl Server {
    /// Up to `max` requests as a list (see [`take_or_wait`] for `wait`).
    fn batch<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        wait: Option<Option<Duration>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut g = side(&self.s, SERVER).py_err(py)?;
        let s = open(&mut g, SERVER)?;
        let mut items = Vec::new();
        let take = |s: &mut CoreServer| {
            s.serve(max, |r| {
                items.push((
                    id_tuple(r.client),
                    r.priority as u32,
                    PyBytes::new(py, r.payload()),
                ))
            })
            .py_err(py)
        };
        take_or_wait(py, s, wait, take, |s, t| s.wait(t))?;
        PyList::new(py, items)
    }
}

#[pymethods]
impl Server {
    /// A registration the next request or client event wakes (for `ringmpsc.aio`).
    fn _arm_recv(&self, py: Python<'_>) -> PyResult<Armed> {
        let g = side(&self.s, SERVER).py_err(py)?;
        let mut g = g;
        Ok(open(&mut g, SERVER)?.arm().into())
    }

    /// `policy` is what a reply does when the client's ring is full:
    /// "fail" (default), "block" or "drop_low" (waiting up to
    /// `policy_timeout` seconds; None: no limit).
    #[new]
    #[pyo3(signature = (name, *, max_clients = 64, request_capacity = 1 << 20,
                        response_capacity = 1 << 20, split = (20, 50, 30),
                        policy = None, policy_timeout = None, mode = 0o600, group = None,
                        allow_users = Vec::new(), allow_groups = Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &str,
        max_clients: usize,
        request_capacity: usize,
        response_capacity: usize,
        split: (u8, u8, u8),
        policy: Option<&str>,
        policy_timeout: Option<f64>,
        mode: u32,
        group: Option<u32>,
        allow_users: Vec<u32>,
        allow_groups: Vec<u32>,
    ) -> PyResult<Self> {
        let options = ServerOptions {
            max_clients,
            request_capacity,
            response_capacity,
            split: Split {
                critical: split.0,
                high: split.1,
                low: split.2,
            },
            policy: self::policy(policy, policy_timeout, SendPolicy::Fail)?,
            permissions: Permissions { mode, group },
            admission: Admission {
                users: allow_users,
                groups: allow_groups,
            },
        };
        let s = py.detach(|| CoreServer::create(name, options)).py_err(py)?;
        Ok(Server {
            s: Mutex::new(Some(s)),
            name: name.to_owned(),
        })
    }

    /// Up to `max_messages` requests as a list of `(client, priority,
    /// bytes)`, waiting up to `timeout` seconds for the first (None: no
    /// limit; 0: do not wait). Raises Timeout when none came.
    #[pyo3(signature = (max_messages = 1024, timeout = None))]
    fn recv_batch<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let got = self.batch(
            py,
            max_messages,
            Some(batch_timeout(max_messages, timeout)?),
        )?;
        batch_or_timeout(py, got, max_messages)
    }

    /// Up to `max_messages` requests waiting now, as `(client, priority,
    /// bytes)`, without waiting; [] when none is there.
    #[pyo3(signature = (max_messages = 1024))]
    fn try_recv_batch<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        self.batch(py, max_messages, None)
    }

    /// One request as `(client, priority, bytes)`, waiting up to `timeout`
    /// seconds (None: no limit). Raises Timeout.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<PyRequest<'py>> {
        let timeout = timeout_arg(timeout)?;
        let mut g = side(&self.s, SERVER).py_err(py)?;
        let s = open(&mut g, SERVER)?;
        let deadline = Deadline::after(timeout);
        loop {
            if let Some(r) = s.try_recv().py_err(py)? {
                return Ok((
                    id_tuple(r.client),
                    r.priority as u32,
                    PyBytes::new(py, r.payload()),
                ));
            }
            if timeout == Some(Duration::ZERO) {
                return Err(to_py(py, Error::TimedOut));
            }
            blocking(py, deadline.left(), |w| s.wait(slice_of(w)))?;
        }
    }

    /// One request, or None when nothing waits.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<PyRequest<'py>>> {
        match self.recv(py, Some(0.0)) {
            Err(e) if is_timeout(py, &e) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Sends `data` to `client` at `priority`; False when the policy
    /// dropped a Low message. Raises Disconnected when the client is gone,
    /// Full, Timeout, TooLarge.
    #[pyo3(signature = (client, priority, data, policy = None, policy_timeout = None))]
    fn send(
        &self,
        py: Python<'_>,
        client: (u32, u32),
        priority: u32,
        data: &Bound<'_, PyAny>,
        policy: Option<&str>,
        policy_timeout: Option<f64>,
    ) -> PyResult<bool> {
        let p = self::priority(priority)?;
        let data = Bytes::of(data)?;
        let mut g = side(&self.s, SERVER).py_err(py)?;
        let s = open(&mut g, SERVER)?;
        let pol = self::policy(policy, policy_timeout, s.options().policy)?;
        let id = client_id(client);
        send_fast_then_wait(py, pol, |pol| s.send_with(id, p, data.as_slice(), pol))
    }

    /// Waits up to `timeout` seconds until a request may be waiting.
    /// Raises Timeout.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(timeout)?;
        let mut g = side(&self.s, SERVER).py_err(py)?;
        let s = open(&mut g, SERVER)?;
        blocking(py, timeout, |w| s.wait(slice_of(w)))
    }

    /// The connected clients as a list of `(client, pid, backpressure)`.
    fn clients(&self, py: Python<'_>) -> PyResult<Vec<PyClientInfo>> {
        let mut g = side(&self.s, SERVER).py_err(py)?;
        Ok(open(&mut g, SERVER)?
            .clients()
            .into_iter()
            .map(|c| (id_tuple(c.id), c.pid, c.backpressure))
            .collect())
    }

    /// The fill of `client`'s fullest request ring, 0.0 to 1.0.
    fn backpressure(&self, py: Python<'_>, client: (u32, u32)) -> PyResult<f32> {
        let mut g = side(&self.s, SERVER).py_err(py)?;
        open(&mut g, SERVER)?
            .backpressure(client_id(client))
            .py_err(py)
    }

    /// Whether `client` is connected and stamped its heartbeat within
    /// `timeout` seconds (a heartbeat age, not a wait: this never waits).
    #[pyo3(signature = (client, timeout = 1.0))]
    fn is_client_alive(&self, py: Python<'_>, client: (u32, u32), timeout: f64) -> PyResult<bool> {
        let t = timeout_arg(Some(timeout))?.unwrap_or_default();
        let mut g = side(&self.s, SERVER).py_err(py)?;
        Ok(open(&mut g, SERVER)?.is_client_alive(client_id(client), t))
    }

    /// Wakes `client` if it sleeps in a wait.
    fn signal(&self, py: Python<'_>, client: (u32, u32)) -> PyResult<()> {
        let mut g = side(&self.s, SERVER).py_err(py)?;
        open(&mut g, SERVER)?.signal(client_id(client)).py_err(py)
    }

    /// Disconnects `client`, also one that has left with requests still
    /// queued (they are dropped). Raises Disconnected when it is gone.
    fn disconnect(&self, py: Python<'_>, client: (u32, u32)) -> PyResult<()> {
        let mut g = side(&self.s, SERVER).py_err(py)?;
        open(&mut g, SERVER)?
            .disconnect(client_id(client))
            .py_err(py)
    }

    /// Stops the server: clients get Disconnected, the name is removed.
    /// Idempotent; also done by leaving a `with` block.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        let s = side(&self.s, SERVER).py_err(py)?.take();
        if let Some(s) = s {
            py.detach(|| s.shutdown());
        }
        Ok(())
    }

    /// True once the server was shut down.
    #[getter]
    fn closed(&self) -> bool {
        peek(&self.s, |_| ()).is_err_and(|state| state == "closed")
    }

    /// A `with` block shuts the server down when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("Server").name(Some(&self.name));
        match peek(&self.s, |s| s.clients().len()) {
            Ok(n) => r.field("clients", n).state("open"),
            Err(state) => r.state(state),
        }
        .done()
    }

    /// Leaving a `with` block shuts the server down (see `shutdown`).
    fn __exit__(
        &self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.shutdown(py)?;
        Ok(false)
    }
}

/// A client of a channel: `Client(name, *, timeout=1.0, policy=None,
/// policy_timeout=None, server_uid=None)`. Connecting waits up to
/// `timeout` seconds for the server (None: no limit) and raises
/// Disconnected when there is none. `policy` is what a send does when the
/// ring is full: "block" (default), "fail" or "drop_low", waiting up to
/// `policy_timeout` seconds (None: no limit). The server must run as this
/// process's user, root, or `server_uid` (PermissionError otherwise).
#[pyclass(module = "ringmpsc._ringmpsc", name = "Client")]
pub(crate) struct Client {
    c: Mutex<Option<CoreClient>>,
    policy: SendPolicy,
    name: String,
}

impl Client {
    /// Up to `max` responses as a list (see [`take_or_wait`] for `wait`).
    fn batch<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        wait: Option<Option<Duration>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        let c = open(&mut g, CLIENT)?;
        let mut items = Vec::new();
        let take = |c: &mut CoreClient| {
            c.recv_batch(max, |p, m| items.push((p as u32, PyBytes::new(py, m))))
                .py_err(py)
        };
        take_or_wait(py, c, wait, take, |c, t| c.wait(t))?;
        PyList::new(py, items)
    }
}

#[pymethods]
impl Client {
    /// A registration the server's next response wakes (for `ringmpsc.aio`).
    fn _arm_recv(&self, py: Python<'_>) -> PyResult<Armed> {
        let g = side(&self.c, CLIENT).py_err(py)?;
        let mut g = g;
        Ok(open(&mut g, CLIENT)?.arm_recv().into())
    }

    /// A registration the server's next read of `priority` wakes (for `ringmpsc.aio`).
    fn _arm_send(&self, py: Python<'_>, priority: u32) -> PyResult<Armed> {
        let g = side(&self.c, CLIENT).py_err(py)?;
        let mut g = g;
        Ok(open(&mut g, CLIENT)?
            .arm_send(self::priority(priority)?)
            .into())
    }

    #[new]
    #[pyo3(signature = (name, *, timeout = 1.0, policy = None, policy_timeout = None, server_uid = None))]
    fn new(
        py: Python<'_>,
        name: &str,
        timeout: Option<f64>,
        policy: Option<&str>,
        policy_timeout: Option<f64>,
        server_uid: Option<u32>,
    ) -> PyResult<Self> {
        let options = ClientOptions {
            connect_timeout: seconds(timeout, Duration::from_secs(86_400))?,
            policy: self::policy(policy, policy_timeout, SendPolicy::Block(None))?,
            server_user: server_uid,
        };
        let c = detach_checking(py, |check| {
            CoreClient::connect_checking(name, options, check)
        })?;
        Ok(Client {
            c: Mutex::new(Some(c)),
            policy: options.policy,
            name: name.to_owned(),
        })
    }

    /// This client's id `(slot, generation)`, as the server sees it.
    #[getter]
    fn id(&self, py: Python<'_>) -> PyResult<(u32, u32)> {
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        Ok(id_tuple(open(&mut g, CLIENT)?.id()))
    }

    /// Sends `data` at `priority` (GIL released while it waits for room);
    /// False when the policy dropped a Low message. Raises Disconnected,
    /// Full, Timeout, TooLarge.
    #[pyo3(signature = (priority, data, policy = None, policy_timeout = None))]
    fn send(
        &self,
        py: Python<'_>,
        priority: u32,
        data: &Bound<'_, PyAny>,
        policy: Option<&str>,
        policy_timeout: Option<f64>,
    ) -> PyResult<bool> {
        let p = self::priority(priority)?;
        let data = Bytes::of(data)?;
        let pol = self::policy(policy, policy_timeout, self.policy)?;
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        let c = open(&mut g, CLIENT)?;
        send_fast_then_wait(py, pol, |pol| c.send_with(p, data.as_slice(), pol))
    }

    /// Sends every bytes-like object of `messages` at `priority`, as many
    /// as fit published at once; waits for room (GIL released, in slices
    /// that answer Ctrl-C) under the client's policy for the rest. Returns
    /// how many were queued: fewer when the policy dropped the rest, or
    /// when an error stopped the batch after some were queued (the next
    /// call raises it). KeyboardInterrupt: what was queued before it stays,
    /// and the exception's `queued` says how many.
    fn send_many(
        &self,
        py: Python<'_>,
        priority: u32,
        messages: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let p = self::priority(priority)?;
        let owned: Vec<Bytes> = messages
            .try_iter()?
            .map(|m| Bytes::of(&m?))
            .collect::<PyResult<_>>()?;
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        let c = open(&mut g, CLIENT)?;
        let refs: Vec<&[u8]> = owned.iter().map(Bytes::as_slice).collect();
        let mut sent = 0;
        while sent < refs.len() {
            // As many as fit now, without waiting.
            match c.send_many_with(p, &refs[sent..], SendPolicy::Fail) {
                Ok(n) => sent += n,
                Err(Error::Full) => {}
                Err(_) if sent > 0 => break,
                Err(e) => return Err(to_py(py, e)),
            }
            if sent == refs.len() {
                break;
            }
            // The next one under the policy: a wait that answers Ctrl-C.
            let send = |pol| c.send_with(p, refs[sent], pol);
            let outcome = send_fast_then_wait_apart(py, self.policy, send)
                .map_err(|e| raised_after(py, e, sent))?;
            match outcome {
                Ok(true) => sent += 1,
                // The policy dropped it: the Low rest goes with it.
                Ok(false) => break,
                // An error after some were queued: the count is the answer
                // (the next call raises it).
                Err(_) if sent > 0 => break,
                Err(e) => return Err(to_py(py, e)),
            }
        }
        Ok(sent)
    }

    /// One response as `(priority, bytes)`, waiting up to `timeout` seconds
    /// (None: no limit). Raises Timeout, Disconnected.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(u32, Bound<'py, PyBytes>)> {
        let timeout = timeout_arg(timeout)?;
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        let c = open(&mut g, CLIENT)?;
        let deadline = Deadline::after(timeout);
        loop {
            if let Some(r) = c.try_recv().py_err(py)? {
                return Ok((r.priority as u32, PyBytes::new(py, r.payload())));
            }
            if timeout == Some(Duration::ZERO) {
                return Err(to_py(py, Error::TimedOut));
            }
            blocking(py, deadline.left(), |w| c.wait(slice_of(w)))?;
        }
    }

    /// One response, or None when nothing waits.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<(u32, Bound<'py, PyBytes>)>> {
        match self.recv(py, Some(0.0)) {
            Err(e) if is_timeout(py, &e) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Up to `max_messages` responses as `(priority, bytes)`, highest
    /// priority first, waiting up to `timeout` seconds for the first (None:
    /// no limit; 0: do not wait). Raises Timeout when none came.
    #[pyo3(signature = (max_messages = 1024, timeout = None))]
    fn recv_batch<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let got = self.batch(
            py,
            max_messages,
            Some(batch_timeout(max_messages, timeout)?),
        )?;
        batch_or_timeout(py, got, max_messages)
    }

    /// Up to `max_messages` responses waiting now, as `(priority, bytes)`,
    /// without waiting; [] when none is there.
    #[pyo3(signature = (max_messages = 1024))]
    fn try_recv_batch<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        self.batch(py, max_messages, None)
    }

    /// Waits up to `timeout` seconds until a response waits.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(timeout)?;
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        let c = open(&mut g, CLIENT)?;
        blocking(py, timeout, |w| c.wait(slice_of(w)))
    }

    /// Rings the server's doorbell.
    fn signal(&self, py: Python<'_>) -> PyResult<()> {
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        open(&mut g, CLIENT)?.signal();
        Ok(())
    }

    /// The fill of this client's fullest request ring, 0.0 to 1.0.
    #[getter]
    fn backpressure(&self, py: Python<'_>) -> PyResult<f32> {
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        Ok(open(&mut g, CLIENT)?.backpressure())
    }

    /// Low messages dropped by the "drop_low" policy so far.
    #[getter]
    fn dropped(&self, py: Python<'_>) -> PyResult<u64> {
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        Ok(open(&mut g, CLIENT)?.dropped())
    }

    /// Whether the server's socket is open and its heartbeat younger than
    /// `timeout` seconds (a heartbeat age, not a wait: this never waits).
    #[pyo3(signature = (timeout = 1.0))]
    fn is_server_alive(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let t = timeout_arg(Some(timeout))?.unwrap_or_default();
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        Ok(open(&mut g, CLIENT)?.is_server_alive(t))
    }

    /// Connects again once the server is gone (Disconnected), to the
    /// server that holds the name now, carrying over every request the old
    /// one had not taken: they go first, in order. Returns how many were
    /// carried; what does not fit yet waits in `backlog` and goes with the
    /// next sends. Requests the old server took but did not answer are the
    /// application's to send again (at least once). ValueError while the
    /// old server is still connected.
    fn reconnect(&self, py: Python<'_>) -> PyResult<usize> {
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        let c = open(&mut g, CLIENT)?;
        detach_checking(py, |check| c.reconnect_checking(check))
    }

    /// Requests carried from a gone server that wait to be sent before new ones.
    #[getter]
    fn backlog(&self, py: Python<'_>) -> PyResult<usize> {
        let mut g = side(&self.c, CLIENT).py_err(py)?;
        Ok(open(&mut g, CLIENT)?.backlog())
    }

    /// Leaves the channel (idempotent; also done by leaving a `with` block).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        side(&self.c, CLIENT).py_err(py)?.take();
        Ok(())
    }

    /// True once the client was closed.
    #[getter]
    fn closed(&self) -> bool {
        peek(&self.c, |_| ()).is_err_and(|state| state == "closed")
    }

    /// A `with` block closes the client when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __repr__(&self) -> String {
        let r = Repr::new("Client").name(Some(&self.name));
        match peek(&self.c, |c| (id_tuple(c.id()), c.backlog())) {
            Ok((id, backlog)) => r
                .field("id", format_args!("{id:?}"))
                .field("backlog", backlog)
                .state("open"),
            Err(state) => r.state(state),
        }
        .done()
    }

    /// Leaving a `with` block closes the client.
    fn __exit__(
        &self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}
