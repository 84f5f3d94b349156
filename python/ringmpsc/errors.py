"""Exceptions raised by ringmpsc.

Every exception derives from :class:`Error`; where a built-in exception
means the same thing, the class derives from it too, so ``except
TimeoutError`` catches :class:`Timeout`. Bad arguments raise the built-in
``ValueError`` / ``TypeError`` and operating-system failures ``OSError``.
"""


class Error(Exception):
    """Base class of every ringmpsc error."""


class Full(Error):
    """No free slot."""


class Empty(Error):
    """Nothing to read."""


class Closed(Error):
    """The ring or channel is closed (and, for reads, drained)."""


class Timeout(Error, TimeoutError):
    """A blocking call reached its timeout."""


class TooLarge(Error, ValueError):
    """A message is larger than allowed."""


class Corrupt(Error):
    """Shared state written by another process is inconsistent."""


class InvalidHeader(Error, ValueError):
    """A segment or file header does not match what was expected."""


class Busy(Error):
    """The producer or consumer side is in use by another thread."""


class TooMany(Error):
    """No room for another producer or consumer."""


class Disconnected(Error, ConnectionError):
    """The peer process went away."""


class FellBehind(Error):
    """A log reader asked for records that retention already deleted."""


__all__ = [
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
    "FellBehind",
]
