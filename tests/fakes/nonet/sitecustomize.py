"""Loaded via PYTHONPATH in tests: forbid and record every network attempt of the process.

An audit hook raises on socket connect/DNS events, and appends the event to the file in
WATTCUT_NETLOG, so a test can prove that a command made no network attempt at all.
"""

import os
import sys

_LOG = os.environ.get("WATTCUT_NETLOG")
_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto", "urllib.Request"}


def _hook(event, args):
    if event in _EVENTS:
        if _LOG:
            with open(_LOG, "a") as f:
                f.write(f"{event} {args!r}\n")
        raise OSError(f"network blocked by test: {event}")


sys.addaudithook(_hook)
