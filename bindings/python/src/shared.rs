//! `ringmpsc.SharedRing`: fixed-slot rings in shared memory.

use crate::dtype::Dtype;
use crate::errors::IntoPy;
use crate::ring::{Origin, Ring};
use crate::util::{attach_within, dup_fd, ring_bits, seconds, timeout_arg, Repr};
use pyo3::prelude::*;
use ringcore::shm::{self, Permissions, SharedRing as Core, DEFAULT_STALE_AFTER};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// A ring of fixed-size slots in shared memory that other processes (C,
/// C++, Rust or Python) open by name or by descriptor.
///
/// Take one side per process with `producer()` or `consumer()`: each returns
/// a `Ring` object that accepts that side's calls.
#[pyclass(module = "ringmpsc._ringmpsc", name = "SharedRing")]
pub(crate) struct SharedRing {
    ring: Core,
    /// The name it was created or attached with (None: from a descriptor).
    name: Option<String>,
    /// The numpy dtype of the items, given to both sides (None: bytes).
    dtype: Option<Dtype>,
}

/// The slot size an attach checks: the dtype's (which `slot_size`, when
/// given, must equal), else `slot_size`.
fn expected_size(dtype: Option<&Dtype>, slot_size: Option<usize>) -> PyResult<Option<usize>> {
    match dtype {
        Some(_) => Dtype::item_size(dtype, slot_size, 0, "slot_size").map(Some),
        None => Ok(slot_size),
    }
}

#[pymethods]
impl SharedRing {
    /// Creates a shared ring of `capacity` slots (a power of two) of
    /// `slot_size` bytes. With a `name` the segment is a file (a bare name
    /// goes under /dev/shm; mode 0600, never overwritten); without one it is
    /// an anonymous sealed memfd, shared through `fileno()`. A named
    /// segment gets `mode` (default 0o600) and, when given, `group`.
    /// With a numpy `dtype` the slots are items of that dtype and its
    /// itemsize (a different `slot_size` is a ValueError); both sides then
    /// take and return numpy items (see `Ring`). A peer attaches with the
    /// same dtype, or with bytes of the same slot size.
    #[staticmethod]
    #[pyo3(signature = (name = None, capacity = 1024, slot_size = None, *, mode = 0o600,
                        group = None, dtype = None))]
    fn create(
        py: Python<'_>,
        name: Option<&str>,
        capacity: usize,
        slot_size: Option<usize>,
        mode: u32,
        group: Option<u32>,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let dtype = Dtype::of(dtype)?;
        let slot_size = Dtype::item_size(dtype.as_ref(), slot_size, 8, "slot_size")?;
        let bits = ring_bits(capacity)?;
        let perm = Permissions { mode, group };
        Ok(SharedRing {
            ring: Core::create_slots_with(name, bits, slot_size, perm).py_err(py)?,
            name: name.map(str::to_owned),
            dtype,
        })
    }

    /// Opens the named ring, waiting up to `timeout` seconds for it to be
    /// published (None: no limit; 0: do not wait); `slot_size`, when given,
    /// must match. Raises FileNotFoundError when no such ring appeared in time.
    /// With a numpy `dtype` the slots must be of its itemsize (as
    /// `SharedRing.create`).
    #[staticmethod]
    #[pyo3(signature = (name, slot_size = None, timeout = 1.0, *, dtype = None))]
    fn attach(
        py: Python<'_>,
        name: &str,
        slot_size: Option<usize>,
        timeout: Option<f64>,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let dtype = Dtype::of(dtype)?;
        let slot_size = expected_size(dtype.as_ref(), slot_size)?;
        let ring = attach_within(py, timeout_arg(timeout)?, |t| {
            Core::attach_slots(name, slot_size, t)
        })?;
        Ok(SharedRing {
            ring,
            name: Some(name.to_owned()),
            dtype,
        })
    }

    /// Maps a ring from a descriptor (duplicated; the caller keeps `fd`);
    /// `slot_size` and `dtype` as for `attach`. A memfd whose size is
    /// sealed, as `create(None, ...)` makes them (InvalidHeader for any
    /// other file).
    #[staticmethod]
    #[pyo3(signature = (fd, slot_size = None, *, dtype = None))]
    fn from_fd(
        py: Python<'_>,
        fd: i32,
        slot_size: Option<usize>,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let dtype = Dtype::of(dtype)?;
        let slot_size = expected_size(dtype.as_ref(), slot_size)?;
        Ok(SharedRing {
            ring: Core::from_fd(dup_fd(fd)?, slot_size).py_err(py)?,
            name: None,
            dtype,
        })
    }

    /// The segment's descriptor (owned by this object), for `socket.send_fds`.
    fn fileno(&self) -> i32 {
        self.ring.fd().as_raw_fd()
    }

    /// Takes the producer side for this process (raises Busy while a live
    /// process holds it; a dead holder's side is taken over). Closing or
    /// dropping the returned Ring closes the shared ring.
    fn producer(&self, py: Python<'_>) -> PyResult<Ring> {
        Ok(Ring::from_producer(
            self.ring.slot_producer(DEFAULT_STALE_AFTER).py_err(py)?,
            Origin::SharedProducer,
        )
        .with_dtype(self.dtype.as_ref().map(|d| d.clone_ref(py))))
    }

    /// Takes the consumer side for this process (see `producer`).
    fn consumer(&self, py: Python<'_>) -> PyResult<Ring> {
        Ok(Ring::from_consumer(
            self.ring.slot_consumer(DEFAULT_STALE_AFTER).py_err(py)?,
            Origin::SharedConsumer,
        )
        .with_dtype(self.dtype.as_ref().map(|d| d.clone_ref(py))))
    }

    /// Number of slots.
    #[getter]
    fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Bytes per slot.
    #[getter]
    fn slot_size(&self) -> usize {
        self.ring.slot_size()
    }

    /// The numpy dtype of the items, or None for a ring of bytes.
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.dtype.as_ref().map(|d| d.object(py))
    }

    fn __len__(&self) -> usize {
        self.ring.len()
    }

    /// Closes the ring for every process and wakes every sleeper.
    fn close(&self) {
        self.ring.close();
    }

    /// True once any process closed the ring.
    #[getter]
    fn closed(&self) -> bool {
        self.ring.is_closed()
    }

    /// Whether a producer process holds the ring and its heartbeat
    /// (stamped every 20 ms) is younger than `timeout` seconds (a heartbeat
    /// age, not a wait: this never waits).
    #[pyo3(signature = (timeout = 1.0))]
    fn is_producer_alive(&self, timeout: Option<f64>) -> PyResult<bool> {
        Ok(self
            .ring
            .is_producer_alive(seconds(timeout, Duration::from_secs(1))?))
    }

    /// Whether a consumer process holds the ring and is alive (see above).
    #[pyo3(signature = (timeout = 1.0))]
    fn is_consumer_alive(&self, timeout: Option<f64>) -> PyResult<bool> {
        Ok(self
            .ring
            .is_consumer_alive(seconds(timeout, Duration::from_secs(1))?))
    }

    /// Pid of the process that holds the producer side (0: none).
    #[getter]
    fn producer_pid(&self) -> u32 {
        self.ring.producer_pid()
    }

    /// Pid of the process that holds the consumer side (0: none).
    #[getter]
    fn consumer_pid(&self) -> u32 {
        self.ring.consumer_pid()
    }

    /// Pid of the process that created the segment.
    #[getter]
    fn creator_pid(&self) -> u32 {
        self.ring.creator_pid()
    }

    /// True when the creator is dead and no live process holds a side.
    #[getter]
    fn stale(&self) -> bool {
        self.ring.is_stale()
    }

    /// Removes the segment's name (the mapping stays valid).
    fn unlink(&self, py: Python<'_>) -> PyResult<()> {
        self.ring.unlink().py_err(py)
    }

    /// Removes the segment's name once this object and the sides taken
    /// from it are garbage collected.
    #[pyo3(signature = (unlink = true))]
    fn unlink_on_drop(&self, unlink: bool) {
        self.ring.unlink_on_drop(unlink);
    }

    /// A `with` block closes the ring when it ends.
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block closes the ring.
    fn __exit__(
        &self,
        _t: &Bound<'_, PyAny>,
        _e: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.ring.close();
        false
    }

    fn __repr__(&self) -> String {
        let alive = Duration::from_secs(1);
        let mut r = Repr::new("SharedRing")
            .name(self.name.as_deref())
            .field("capacity", self.ring.capacity())
            .field("slot_size", self.ring.slot_size())
            .field("used", self.ring.len())
            .open(self.ring.is_closed());
        if self.ring.is_producer_alive(alive) {
            r = r.state("producer alive");
        }
        if self.ring.is_consumer_alive(alive) {
            r = r.state("consumer alive");
        }
        r.done()
    }
}

/// Removes the named segment if its creator is dead and no live process
/// holds a side; returns whether it was removed.
#[pyfunction]
pub(crate) fn remove_if_stale(py: Python<'_>, name: &str) -> PyResult<bool> {
    shm::remove_if_stale(name).py_err(py)
}
