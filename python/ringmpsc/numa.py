"""NUMA topology, thread pinning and memory placement (Linux; a single-node
machine reports one node, pinning works per CPU and placement is a no-op).

    >>> from ringmpsc import numa
    >>> node = numa.node_of_cpu(0)
    >>> any(n["id"] == node for n in numa.nodes())
    True
"""

from ._ringmpsc import (
    numa_bind_memory as bind_memory,
    numa_bind_to_cpu as bind_to_cpu,
    numa_bind_to_node as bind_to_node,
    numa_current_cpu as current_cpu,
    numa_current_node as current_node,
    numa_is_numa as is_numa,
    numa_nearest_node as nearest_node,
    numa_node_of_cpu as node_of_cpu,
    numa_nodes as nodes,
)

__all__ = [
    "nodes",
    "is_numa",
    "node_of_cpu",
    "nearest_node",
    "bind_to_cpu",
    "bind_to_node",
    "current_cpu",
    "current_node",
    "bind_memory",
]
