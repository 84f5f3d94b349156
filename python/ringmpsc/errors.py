"""Exceptions raised by ringmpsc.

Every exception derives from :class:`Error`; where a built-in exception
means the same thing, the class derives from it too, so ``except
TimeoutError`` catches :class:`Timeout`. Bad arguments raise the built-in
``ValueError`` / ``TypeError`` and operating-system failures ``OSError``
with the system's ``errno`` (so the subclass it picks, such as
``FileNotFoundError``, can be caught).
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
    """A call that waits reached its timeout with nothing done (a call that
    did part of its work returns that part instead). Also a built-in
    ``TimeoutError``."""


class TooLarge(Error, ValueError):
    """A message is larger than allowed."""


class Corrupt(Error):
    """Shared state written by another process is inconsistent."""


class InvalidHeader(Error, ValueError):
    """A segment or file header does not match what was expected."""


class Busy(Error):
    """A side, role or lock is held by someone else: another thread inside
    the same side of a ring, another live process holding a shared side,
    another LogWriter holding a log's lock, another server holding a name.
    The message names which."""


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
