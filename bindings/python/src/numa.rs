//! `ringmpsc.numa`: NUMA topology and thread pinning (the functions behind
//! `python/ringmpsc/numa.py`).

use crate::errors::IntoPy;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use ringcore::numa::{self, NumaTopology};

fn topo() -> &'static NumaTopology {
    NumaTopology::system()
}

/// The nodes as dicts: id, cpus, memory_bytes, distances.
#[pyfunction]
pub(crate) fn numa_nodes(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    topo()
        .nodes()
        .iter()
        .map(|n| {
            let d = PyDict::new(py);
            d.set_item("id", n.id)?;
            d.set_item("cpus", n.cpus.clone())?;
            d.set_item("memory_bytes", n.memory_bytes)?;
            d.set_item("distances", n.distances.clone())?;
            Ok(d)
        })
        .collect()
}

/// Whether the machine has more than one node.
#[pyfunction]
pub(crate) fn numa_is_numa() -> bool {
    topo().is_numa()
}

/// The node of `cpu`.
#[pyfunction]
pub(crate) fn numa_node_of_cpu(cpu: usize) -> usize {
    topo().node_of_cpu(cpu)
}

/// The node nearest to `node`.
#[pyfunction]
pub(crate) fn numa_nearest_node(node: usize) -> usize {
    topo().nearest_node(node)
}

/// Pins the calling thread to `cpu`.
#[pyfunction]
pub(crate) fn numa_bind_to_cpu(py: Python<'_>, cpu: usize) -> PyResult<()> {
    numa::bind_to_cpu(cpu).py_err(py)
}

/// Pins the calling thread to the CPUs of `node`.
#[pyfunction]
pub(crate) fn numa_bind_to_node(py: Python<'_>, node: usize) -> PyResult<()> {
    numa::bind_to_node(node, topo()).py_err(py)
}

/// The CPU the calling thread runs on (None if unknown).
#[pyfunction]
pub(crate) fn numa_current_cpu() -> Option<usize> {
    numa::current_cpu()
}

/// The node the calling thread runs on.
#[pyfunction]
pub(crate) fn numa_current_node() -> usize {
    numa::current_node(topo())
}

/// Asks the kernel to keep the pages of the writable `buffer` (best an
/// anonymous `mmap.mmap` not yet touched) on `node`.
#[pyfunction]
pub(crate) fn numa_bind_memory(
    py: Python<'_>,
    buffer: &Bound<'_, PyAny>,
    node: usize,
) -> PyResult<()> {
    let mut buf = crate::util::BytesMut::of(buffer)?;
    let bytes = buf.as_mut_slice();
    numa::bind_memory_to_node(bytes.as_ptr(), bytes.len(), node).py_err(py)
}
