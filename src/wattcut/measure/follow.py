"""Processes whose resources are billed with this one's: a server wattcut started to serve a variant.

The CPU-time and RSS models meter this process (and its waited-for children). A ``llama-server``
that wattcut runs for served-mode chat replay is a child that is not waited for until it
exits, so its CPU seconds and resident memory would be missed. :func:`follow` registers it
for as long as it serves; the models add its figures to every window (counters, such as RAPL,
see the whole package anyway and need nothing).
"""

from __future__ import annotations

import threading

import psutil

_LOCK = threading.Lock()
_FOLLOWED: dict[int, psutil.Process] = {}


def follow(pid: int) -> None:
    """Bill process ``pid``'s CPU time and memory with this process's from now on."""
    with _LOCK:
        _FOLLOWED[pid] = psutil.Process(pid)


def unfollow(pid: int) -> None:
    """Stop billing ``pid`` (call before it exits, outside metered windows)."""
    with _LOCK:
        _FOLLOWED.pop(pid, None)


def cpu_s() -> dict[int, float]:
    """User + system CPU seconds of each followed process (a process gone meanwhile is left out)."""
    out: dict[int, float] = {}
    with _LOCK:
        procs = list(_FOLLOWED.items())
    for pid, p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        out[pid] = t.user + t.system
    return out


def rss_bytes() -> int:
    """Resident memory of the followed processes together."""
    total = 0
    with _LOCK:
        procs = list(_FOLLOWED.values())
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total
