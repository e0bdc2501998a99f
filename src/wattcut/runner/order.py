"""The order in which a round's windows run: a Williams design, balanced for position and for what ran just before.

A plain rotation (ABC, BCA, CAB) gives every variant every position, but the one before a
variant never changes: B always follows A. Whatever a window leaves behind (warm caches, a
runtime's spinning worker threads, the CPU's frequency) then lands on the same neighbour in
every round, a bias that pairing cannot cancel. Williams (1949) orders the rows of a Latin
square so that every variant also follows every other equally often: the first row is
0, 1, n-1, 2, n-2, ..., row k adds k to it (mod n), and for an odd n the mirror of each row
is added (2n rows). The mirrors are interleaved with their rows, so every even-length prefix
of rounds is balanced for what-follows-what too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def williams_rows(n: int) -> list[list[int]]:
    """The rows of a Williams design for ``n`` treatments (``n`` rows if even, ``2n`` if odd), in the order used."""
    if n < 1:
        return []
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(x + k) % n for x in first] for k in range(n)]
    if n % 2 == 0:
        return rows
    return [r for row in rows for r in (row, row[::-1])]


def round_order(items: Sequence[T], r: int) -> list[T]:
    """``items`` in the order round ``r`` serves them."""
    rows = williams_rows(len(items))
    return [items[i] for i in rows[r % len(rows)]] if rows else []
