//! NUMA topology, thread pinning and memory placement (Linux).
//!
//! Everything here degrades to a no-op on a single-node machine or when the
//! kernel refuses: placement is an optimisation, never a failure.

use crate::error::{Error, Result};
use std::path::Path;
use std::sync::OnceLock;

/// One NUMA node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumaNode {
    /// Node id as the kernel numbers it.
    pub id: usize,
    /// CPUs on this node.
    pub cpus: Vec<usize>,
    /// Memory of the node in bytes (0 when unknown).
    pub memory_bytes: u64,
    /// Distance to each node, indexed by position in [`NumaTopology::nodes`].
    pub distances: Vec<u32>,
}

/// The machine's NUMA layout, read from `/sys/devices/system/node`.
///
/// ```
/// let topo = ringcore::numa::NumaTopology::system();
/// assert!(!topo.nodes().is_empty());
/// let node = topo.node_of_cpu(0);
/// assert!(topo.nodes().iter().any(|n| n.id == node));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumaTopology {
    nodes: Vec<NumaNode>,
}

impl NumaTopology {
    /// The topology of this machine, read once and cached.
    pub fn system() -> &'static NumaTopology {
        static TOPOLOGY: OnceLock<NumaTopology> = OnceLock::new();
        TOPOLOGY.get_or_init(|| {
            if cfg!(miri) {
                // Miri isolates the file system; placement is not what it checks.
                return Self::uniform();
            }
            Self::from_sysfs(Path::new("/sys/devices/system/node"))
                .unwrap_or_else(|_| Self::uniform())
        })
    }

    /// Reads a sysfs-style tree (`nodeN/cpulist`, `nodeN/distance`, `nodeN/meminfo`).
    pub fn from_sysfs(root: &Path) -> Result<NumaTopology> {
        let mut nodes = Vec::new();
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix("node"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            let dir = entry.path();
            let cpus = parse_cpu_list(&std::fs::read_to_string(dir.join("cpulist"))?)?;
            let distances = std::fs::read_to_string(dir.join("distance"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|d| d.parse().ok())
                .collect();
            let memory_bytes = std::fs::read_to_string(dir.join("meminfo"))
                .ok()
                .and_then(|m| parse_mem_total(&m))
                .unwrap_or(0);
            nodes.push(NumaNode {
                id,
                cpus,
                memory_bytes,
                distances,
            });
        }
        if nodes.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "no NUMA nodes under {}",
                root.display()
            )));
        }
        nodes.sort_by_key(|n| n.id);
        Ok(NumaTopology { nodes })
    }

    /// One node holding every CPU: the fallback when sysfs says nothing.
    pub fn uniform() -> NumaTopology {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        NumaTopology {
            nodes: vec![NumaNode {
                id: 0,
                cpus: (0..n).collect(),
                memory_bytes: 0,
                distances: vec![10],
            }],
        }
    }

    /// The nodes, sorted by id.
    pub fn nodes(&self) -> &[NumaNode] {
        &self.nodes
    }

    /// True when the machine has more than one node.
    pub fn is_numa(&self) -> bool {
        self.nodes.len() > 1
    }

    /// The node that owns `cpu` (the first node when no node lists it).
    pub fn node_of_cpu(&self, cpu: usize) -> usize {
        self.nodes
            .iter()
            .find(|n| n.cpus.contains(&cpu))
            .unwrap_or(&self.nodes[0])
            .id
    }

    /// The closest other node to `from` by the kernel's distance table
    /// (`from` itself on a single-node machine).
    pub fn nearest_node(&self, from: usize) -> usize {
        let Some(src) = self.nodes.iter().find(|n| n.id == from) else {
            return from;
        };
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.id != from)
            .min_by_key(|(i, _)| src.distances.get(*i).copied().unwrap_or(u32::MAX))
            .map_or(from, |(_, n)| n.id)
    }
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
fn parse_cpu_list(s: &str) -> Result<Vec<usize>> {
    let bad = || Error::InvalidArgument(format!("bad CPU list {s:?}"));
    let mut cpus = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(cpus)
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.contains("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().rev().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Pins the calling thread to `cpu`.
pub fn bind_to_cpu(cpu: usize) -> Result<()> {
    bind_to_cpus(&[cpu])
}

/// Pins the calling thread to the CPUs of NUMA node `node`.
pub fn bind_to_node(node: usize, topology: &NumaTopology) -> Result<()> {
    let n = topology
        .nodes()
        .iter()
        .find(|n| n.id == node)
        .ok_or_else(|| Error::InvalidArgument(format!("no NUMA node {node}")))?;
    bind_to_cpus(&n.cpus)
}

fn bind_to_cpus(cpus: &[usize]) -> Result<()> {
    crate::sys::process::bind_to_cpus(cpus).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => Error::InvalidArgument(e.to_string()),
        _ => e.into(),
    })
}

/// The CPU the calling thread runs on now.
pub fn current_cpu() -> Option<usize> {
    crate::sys::process::current_cpu()
}

/// The NUMA node the calling thread runs on now.
pub fn current_node(topology: &NumaTopology) -> usize {
    current_cpu().map_or(topology.nodes()[0].id, |c| topology.node_of_cpu(c))
}

/// Asks the kernel to keep the pages of `[addr, addr + len)` on `node`
/// (`MPOL_PREFERRED` with page migration). Preferred rather than bound: a
/// full node then spills to another one instead of failing allocations.
pub fn bind_memory_to_node(addr: *const u8, len: usize, node: usize) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    if node >= 64 {
        return Err(Error::InvalidArgument(format!("node {node} out of range")));
    }
    let page = page_size();
    let start = addr as usize & !(page - 1);
    let end = (addr as usize)
        .checked_add(len)
        .and_then(|e| e.checked_next_multiple_of(page))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{len} bytes at {addr:p} run past the address space"
            ))
        })?;
    Ok(crate::sys::map::prefer_node(start, end - start, node)?)
}

/// Allocates objects on chosen NUMA nodes: each allocation is a mapping of
/// its own, placed with [`bind_memory_to_node`] before it is first touched,
/// so its pages come from that node (meant for big, long-lived objects such
/// as rings and pools; a single-node machine gets ordinary memory).
///
/// ```
/// use ringcore::numa::{NumaAllocator, NumaTopology};
/// let alloc = NumaAllocator::new(NumaTopology::system());
/// let node = NumaTopology::system().node_of_cpu(0);
/// let mut table = alloc.alloc_zeroed_on_node::<[u64; 1 << 16]>(node)?;
/// table[7] = 42;
/// assert_eq!(table.iter().sum::<u64>(), 42);
/// let mut log = alloc.alloc_for_cpu::<Vec<u64>>(0)?;
/// log.push(1);
/// assert_eq!(log.node(), node);
/// # Ok::<(), ringcore::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NumaAllocator<'t> {
    topology: &'t NumaTopology,
}

impl<'t> NumaAllocator<'t> {
    /// An allocator for the nodes of `topology`.
    pub fn new(topology: &'t NumaTopology) -> Self {
        NumaAllocator { topology }
    }

    /// `T::default()` in memory that lives on `node`.
    pub fn alloc_on_node<T: Default>(&self, node: usize) -> Result<NodeBox<T>> {
        self.check(node)?;
        // SAFETY: `init` writes a whole T.
        unsafe {
            NodeBox::new(node, self.topology.is_numa(), |p: *mut T| {
                p.write(T::default())
            })
        }
    }

    /// `T::default()` on the node of `cpu`.
    pub fn alloc_for_cpu<T: Default>(&self, cpu: usize) -> Result<NodeBox<T>> {
        self.alloc_on_node(self.topology.node_of_cpu(cpu))
    }

    /// A zeroed plain-old-data `T` (any size: big arrays, slot tables) on
    /// `node`; its pages are touched only when first used.
    pub fn alloc_zeroed_on_node<T: crate::pod::Pod>(&self, node: usize) -> Result<NodeBox<T>> {
        self.check(node)?;
        // SAFETY: a fresh anonymous mapping is zeroed, and zero bytes are a
        // valid Pod value.
        unsafe { NodeBox::new(node, self.topology.is_numa(), |_| {}) }
    }

    /// `len` zeroed bytes (rounded up to whole pages) on `node`.
    pub fn alloc_bytes_on_node(&self, len: usize, node: usize) -> Result<NodeMapping> {
        self.check(node)?;
        NodeMapping::new(len, node, self.topology.is_numa())
    }

    fn check(&self, node: usize) -> Result<()> {
        if !self.topology.nodes().iter().any(|n| n.id == node) {
            return Err(Error::InvalidArgument(format!("no NUMA node {node}")));
        }
        Ok(())
    }
}

/// Zeroed, page-aligned bytes in a mapping of their own placed on one NUMA
/// node (from [`NumaAllocator::alloc_bytes_on_node`]): buffers, arenas, or
/// memory handed to C. Pages come from the node when first touched.
pub struct NodeMapping {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
    node: usize,
}

impl std::fmt::Debug for NodeMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeMapping")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("node", &self.node)
            .finish()
    }
}

// SAFETY: the mapping is plain memory owned by the value.
unsafe impl Send for NodeMapping {}
// SAFETY: shared access gives out only &[u8].
unsafe impl Sync for NodeMapping {}

impl NodeMapping {
    /// Maps `len` bytes (rounded up to whole pages, at least one),
    /// placed on `node` when `place` is set.
    fn new(len: usize, node: usize, place: bool) -> Result<NodeMapping> {
        let len = Self::mapped_len(len)
            .ok_or_else(|| Error::InvalidArgument("allocation size overflows".into()))?;
        let ptr = crate::sys::map::map_anonymous(len)?;
        if place {
            // Before the first touch, so the pages are allocated there. Best
            // effort, as all placement.
            let _ = bind_memory_to_node(ptr.as_ptr(), len, node);
        }
        Ok(NodeMapping { ptr, len, node })
    }

    /// The node the memory was placed on.
    pub fn node(&self) -> usize {
        self.node
    }

    /// What a request for `len` bytes maps: whole pages, at least one
    /// (`None` when that overflows).
    pub fn mapped_len(len: usize) -> Option<usize> {
        len.max(1).checked_next_multiple_of(page_size())
    }

    /// The first byte (page-aligned).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapped size: the requested size rounded up to whole pages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never: a mapping holds at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Gives up ownership: the memory stays mapped until
    /// [`from_raw`](Self::from_raw) takes it back.
    pub fn into_raw(self) -> (*mut u8, usize) {
        let raw = (self.as_ptr(), self.len);
        std::mem::forget(self);
        raw
    }

    /// Takes back a mapping given up by [`into_raw`](Self::into_raw) (the
    /// node is not remembered and reads as 0).
    ///
    /// # Safety
    /// `ptr` and `len` come from one `into_raw` call, and are taken back once.
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> NodeMapping {
        NodeMapping {
            ptr: std::ptr::NonNull::new(ptr).expect("from_raw of a NULL pointer"),
            len,
            node: 0,
        }
    }
}

impl std::ops::Deref for NodeMapping {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` mapped, initialised (zeroed) bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for NodeMapping {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for NodeMapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new` (or handed back to `from_raw`)
        // is unmapped once; nothing borrows it past its owner.
        unsafe { crate::sys::map::unmap_anonymous(self.ptr, self.len) };
    }
}

/// A `T` in a mapping placed on one NUMA node (from [`NumaAllocator`]).
pub struct NodeBox<T> {
    map: NodeMapping,
    _owns: std::marker::PhantomData<T>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for NodeBox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBox")
            .field("value", &**self)
            .field("node", &self.map.node)
            .finish_non_exhaustive()
    }
}

// SAFETY: NodeBox owns its T like a Box does.
unsafe impl<T: Send> Send for NodeBox<T> {}
// SAFETY: shared access gives out only &T.
unsafe impl<T: Sync> Sync for NodeBox<T> {}

impl<T> NodeBox<T> {
    /// # Safety
    /// After `init` runs on the (zeroed) memory, it must hold a valid `T`.
    unsafe fn new(node: usize, place: bool, init: impl FnOnce(*mut T)) -> Result<NodeBox<T>> {
        if std::mem::align_of::<T>() > page_size() {
            return Err(Error::InvalidArgument(
                "alignment above the page size".into(),
            ));
        }
        let map = NodeMapping::new(std::mem::size_of::<T>(), node, place)?;
        // The mapping is page-aligned (enough for T) and holds a whole T.
        init(map.as_ptr().cast());
        Ok(NodeBox {
            map,
            _owns: std::marker::PhantomData,
        })
    }

    /// The node the memory was placed on.
    pub fn node(&self) -> usize {
        self.map.node()
    }
}

impl<T> std::ops::Deref for NodeBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised in `new`, owned by self.
        unsafe { &*self.map.as_ptr().cast::<T>() }
    }
}

impl<T> std::ops::DerefMut for NodeBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and &mut self is exclusive.
        unsafe { &mut *self.map.as_ptr().cast::<T>() }
    }
}

impl<T> Drop for NodeBox<T> {
    fn drop(&mut self) {
        // SAFETY: the T is initialised and dropped once; the mapping is
        // unmapped after, by its own drop.
        unsafe { std::ptr::drop_in_place(self.map.as_ptr().cast::<T>()) };
    }
}

/// The run-time page size (at least 4 KiB).
pub fn page_size() -> usize {
    crate::sys::process::page_size()
}

/// Places a new ring's slots on the configured node, or on the creating
/// thread's node; nothing on a single-node machine or when `numa_aware` is off.
pub(crate) fn place_memory(addr: *const u8, len: usize, config: &crate::config::Config) {
    let topology = NumaTopology::system();
    if let Some(node) = placement_node(config, topology, || current_node(topology)) {
        // Placement is best effort: a refused mbind leaves the default policy.
        let _ = bind_memory_to_node(addr, len, node);
    }
}

/// The node a new ring's memory goes to, if any: the configured node, else
/// (with `numa_aware`) the creating thread's; none on a single-node machine.
fn placement_node(
    config: &crate::config::Config,
    topology: &NumaTopology,
    current: impl FnOnce() -> usize,
) -> Option<usize> {
    if !topology.is_numa() || (!config.numa_aware && config.numa_node.is_none()) {
        return None;
    }
    Some(config.numa_node.unwrap_or_else(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n").unwrap(),
            [0, 1, 2, 3, 8, 10, 11]
        );
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore = "sysfs files and scheduler calls")]
    fn fake_two_node_tree() {
        let t = fake_two_nodes("tree");
        assert!(t.is_numa());
        assert_eq!(t.node_of_cpu(3), 1);
        assert_eq!(t.node_of_cpu(0), 0);
        assert_eq!(t.nearest_node(0), 1);
        assert_eq!(t.nodes()[1].memory_bytes, 1024 * 1024);
    }

    #[test]
    #[cfg_attr(miri, ignore = "sysfs files and scheduler calls")]
    fn ring_placement_decisions() {
        let two = fake_two_nodes("placement");
        let one = NumaTopology::uniform();
        let config = |aware, node| crate::config::Config {
            numa_aware: aware,
            numa_node: node,
            ..crate::config::Config::default()
        };
        // The producer's (creating thread's) node, unless a node is configured.
        assert_eq!(placement_node(&config(true, None), &two, || 1), Some(1));
        assert_eq!(placement_node(&config(true, Some(0)), &two, || 1), Some(0));
        assert_eq!(placement_node(&config(false, Some(1)), &two, || 0), Some(1));
        assert_eq!(placement_node(&config(false, None), &two, || 1), None);
        // A single node: never anything to do.
        assert_eq!(placement_node(&config(true, Some(0)), &one, || 0), None);
    }

    fn fake_two_nodes(tag: &str) -> NumaTopology {
        let dir = std::env::temp_dir().join(format!("ringcore-numa-{tag}-{}", std::process::id()));
        for (id, cpus, dist) in [(0, "0-1", "10 21"), (1, "2-3", "21 10")] {
            let d = dir.join(format!("node{id}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("cpulist"), cpus).unwrap();
            std::fs::write(d.join("distance"), dist).unwrap();
            std::fs::write(d.join("meminfo"), format!("Node {id} MemTotal: 1024 kB\n")).unwrap();
        }
        std::fs::write(dir.join("online"), "0-1").unwrap();
        let t = NumaTopology::from_sysfs(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        t
    }

    #[test]
    fn allocations_on_nodes() {
        let t = NumaTopology::system();
        let a = NumaAllocator::new(t);
        let mut v = a.alloc_on_node::<Vec<u32>>(t.nodes()[0].id).unwrap();
        v.extend([1, 2, 3]);
        assert_eq!(v.iter().sum::<u32>(), 6);
        assert!(matches!(
            a.alloc_on_node::<u8>(9999),
            Err(Error::InvalidArgument(_))
        ));
        let big = a
            .alloc_zeroed_on_node::<[u8; 3 * 4096 + 1]>(t.nodes()[0].id)
            .unwrap();
        assert!(big.iter().all(|&b| b == 0));
        let mut bytes = a.alloc_bytes_on_node(5000, t.nodes()[0].id).unwrap();
        assert_eq!(bytes.len(), 5000usize.next_multiple_of(page_size()));
        assert_eq!(bytes.as_ptr() as usize % page_size(), 0);
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[4999] = 7;
        let (ptr, len) = bytes.into_raw();
        // SAFETY: from the into_raw just above, taken back once.
        let back = unsafe { NodeMapping::from_raw(ptr, len) };
        assert_eq!(back[4999], 7);
        assert!(a.alloc_bytes_on_node(1, 9999).is_err());
        assert!(a.alloc_bytes_on_node(usize::MAX, t.nodes()[0].id).is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore = "sysfs files and scheduler calls")]
    fn system_topology_and_pinning() {
        let t = NumaTopology::system();
        let cpu = current_cpu().expect("sched_getcpu works on Linux");
        assert!(t.nodes().iter().any(|n| n.id == t.node_of_cpu(cpu)));
        std::thread::spawn(move || {
            bind_to_cpu(cpu).unwrap();
            assert_eq!(current_cpu(), Some(cpu));
        })
        .join()
        .unwrap();
        assert!(bind_to_node(9999, t).is_err());
        let buf = vec![0u8; 1 << 16];
        // A single node accepts its own id; the call must not corrupt memory.
        let _ = bind_memory_to_node(buf.as_ptr(), buf.len(), t.nodes()[0].id);
        assert!(buf.iter().all(|&b| b == 0));
    }
}
