"""The ``ringmpsc`` console script: the tool's Rust code (``cli/``), run
through the extension module with this process's arguments."""

import signal
import sys


def main() -> int:
    """Runs ``ringmpsc`` with ``sys.argv`` and exits with its code."""
    # As the native binary: Ctrl-C ends `stat --watch` or `dump --follow`
    # at once, and a closed pipe (`ringmpsc list | head`) ends quietly.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from ._ringmpsc import _cli_main

    code = _cli_main([sys.argv[0], *sys.argv[1:]])
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
