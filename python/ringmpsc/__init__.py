"""ringmpsc: lock-free, zero-copy message passing with a Rust core.

- :class:`Ring`: a bounded ring of fixed-size byte items between two threads.

Errors are in :mod:`ringmpsc.errors` and re-exported here.
"""

from . import errors
from ._ringmpsc import Ring, __version__
from .errors import (
    Busy,
    Closed,
    Corrupt,
    Disconnected,
    Empty,
    Error,
    Full,
    InvalidHeader,
    Timeout,
    TooLarge,
    TooMany,
)

__all__ = [
    "Ring",
    "__version__",
    "errors",
    "Error",
    "Full",
    "Empty",
    "Closed",
    "Timeout",
    "TooLarge",
    "Corrupt",
    "InvalidHeader",
    "Busy",
    "TooMany",
    "Disconnected",
]
