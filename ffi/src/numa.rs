//! `rmpsc_numa_*`: NUMA topology, thread pinning and memory placement.
//! Every call works on a single-node machine (one node, id 0 or the
//! kernel's), where placement is a no-op.

use crate::{call, call_infallible, out};
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

/// The id of the node at `index` (0 .. rmpsc_numa_node_count()) to `*id`.
/// Errors: RMPSC_EINVAL. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_node_id(index: usize, id: *mut usize) -> c_int {
    call(|| {
        let n = topo()
            .nodes()
            .get(index)
            .ok_or_else(|| Error::InvalidArgument(format!("no node at index {index}")))?;
        out(id, n.id)
    })
}

/// Copies up to `max` CPUs of node `node` into `cpus`; how many the node
/// has goes to `*count`. Errors: RMPSC_EINVAL (no such node). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_numa_node_cpus(
    node: usize,
    cpus: *mut usize,
    max: usize,
    count: *mut usize,
) -> c_int {
    call(|| {
        let n = topo()
            .nodes()
            .iter()
            .find(|n| n.id == node)
            .ok_or_else(|| Error::InvalidArgument(format!("no NUMA node {node}")))?;
        if max > 0 {
            crate::non_null(cpus, "cpus")?;
        }
        for (i, &c) in n.cpus.iter().take(max).enumerate() {
            // SAFETY: `cpus` has room for `max` entries by contract; i < max.
            unsafe { cpus.add(i).write(c) };
        }
        out(count, n.cpus.len())
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

/// The CPU the calling thread runs on, to `*cpu`. Errors: RMPSC_EIO.
#[no_mangle]
pub extern "C" fn rmpsc_numa_current_cpu(cpu: *mut usize) -> c_int {
    call(|| {
        let c = numa::current_cpu().ok_or_else(|| Error::Io(std::io::Error::last_os_error()))?;
        out(cpu, c)
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
        crate::non_null(addr, "addr")?;
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
        crate::non_null(out, "out")?;
        let (ptr, _) = numa::NumaAllocator::new(topo())
            .alloc_bytes_on_node(len, node)?
            .into_raw();
        self::out(out, ptr.cast())
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
