//! `rmpsc_numa_*`: NUMA topology, thread pinning and memory placement.
//! Every call works on a single-node machine (one node, id 0 or the
//! kernel's), where placement is a no-op.

use crate::args::{non_null, slice_mut, Out};
use crate::{call, call_infallible};
use ringcore::numa::{self, NumaTopology};
use ringcore::Error;
use std::ffi::{c_int, c_void};

fn topo() -> &'static NumaTopology {
    NumaTopology::system()
}

/// Number of NUMA nodes (at least 1). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_node_count() -> usize {
    call_infallible(1, || topo().nodes().len())
}

/// Whether the machine has more than one node. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_is_numa() -> bool {
    call_infallible(false, || topo().is_numa())
}

/// The id of the node at `index` (0 .. rmpsc_numa_node_count()) to
/// `*out_id`. Errors: RMPSC_EINVAL. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_node_id(index: usize, out_id: *mut usize) -> c_int {
    call(|| {
        let out_id = Out::new(out_id, "out_id")?;
        let n = topo()
            .nodes()
            .get(index)
            .ok_or_else(|| Error::InvalidArgument(format!("no node at index {index}")))?;
        out_id.set(n.id);
        Ok(())
    })
}

/// Copies up to `max` CPUs of node `node` into `cpus`; how many the node
/// has goes to `*out_count`. Errors: RMPSC_EINVAL (no such node). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_node_cpus(
    node: usize,
    cpus: *mut usize,
    max: usize,
    out_count: *mut usize,
) -> c_int {
    call(|| {
        let out_count = Out::new(out_count, "out_count")?;
        let cpus = slice_mut(cpus, max, "cpus")?;
        let n = topo()
            .nodes()
            .iter()
            .find(|n| n.id == node)
            .ok_or_else(|| Error::InvalidArgument(format!("no NUMA node {node}")))?;
        for (slot, &c) in cpus.iter_mut().zip(&n.cpus) {
            *slot = c;
        }
        out_count.set(n.cpus.len());
        Ok(())
    })
}

/// The node of `cpu`. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_node_of_cpu(cpu: usize) -> usize {
    call_infallible(0, || topo().node_of_cpu(cpu))
}

/// The node nearest to `node` by the kernel's distances (itself on a
/// single-node machine). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_nearest_node(node: usize) -> usize {
    call_infallible(node, || topo().nearest_node(node))
}

/// Pins the calling thread to `cpu`. Errors: RMPSC_EINVAL, RMPSC_EIO.
#[no_mangle]
pub extern "C" fn rmpsc_numa_bind_to_cpu(cpu: usize) -> c_int {
    call(|| numa::bind_to_cpu(cpu))
}

/// Pins the calling thread to the CPUs of `node`. Errors: RMPSC_EINVAL.
#[no_mangle]
pub extern "C" fn rmpsc_numa_bind_to_node(node: usize) -> c_int {
    call(|| numa::bind_to_node(node, topo()))
}

/// The CPU the calling thread runs on, to `*out_cpu`. Errors: RMPSC_EIO.
#[no_mangle]
pub extern "C" fn rmpsc_numa_current_cpu(out_cpu: *mut usize) -> c_int {
    call(|| {
        let out_cpu = Out::new(out_cpu, "out_cpu")?;
        let c = numa::current_cpu().ok_or_else(|| Error::Io(std::io::Error::last_os_error()))?;
        out_cpu.set(c);
        Ok(())
    })
}

/// The node the calling thread runs on.
#[no_mangle]
pub extern "C" fn rmpsc_numa_current_node() -> usize {
    call_infallible(0, || numa::current_node(topo()))
}

/// Asks the kernel to keep the pages of `[addr, addr + len)` on `node`
/// (preferred, with migration). Errors: RMPSC_EINVAL, RMPSC_EIO (a
/// single-node kernel may refuse; placement is an optimisation). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_bind_memory(addr: *mut c_void, len: usize, node: usize) -> c_int {
    call(|| {
        non_null(addr, "addr")?;
        numa::bind_memory_to_node(addr.cast::<u8>(), len, node)
    })
}

/// Maps `len` zeroed, page-aligned bytes placed on `node` (ordinary memory
/// on a single-node machine) to `*out`; its pages come from the node when
/// first touched. Release with rmpsc_numa_free(ptr, len). Errors:
/// RMPSC_EINVAL (no such node, NULL `out`, a size that overflows when
/// rounded to pages), RMPSC_EIO (out of memory). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_alloc(len: usize, node: usize, out: *mut *mut c_void) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let (ptr, _) = numa::NumaAllocator::new(topo())
            .alloc_bytes_on_node(len, node)?
            .into_raw();
        out.set(ptr.cast());
        Ok(())
    })
}

/// Unmaps memory from rmpsc_numa_alloc; `len` is the length asked for
/// there. NULL is ignored. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_free(ptr: *mut c_void, len: usize) {
    call_infallible((), || {
        // A length no allocation could have had is ignored.
        if let (false, Some(len)) = (ptr.is_null(), numa::NodeMapping::mapped_len(len)) {
            // SAFETY: by contract `ptr` and `len` are one rmpsc_numa_alloc's,
            // rounded as it rounded, and are freed once.
            drop(unsafe { numa::NodeMapping::from_raw(ptr.cast(), len) })
        }
    });
}
