"""The rounds' order: a Williams design, balanced for position and for the window just before."""

from collections import Counter

import pytest

from wattcut.runner.order import round_order, williams_rows


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_every_variant_takes_every_position_and_follows_every_other_equally_often(n):
    rows = williams_rows(n)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    assert all(sorted(r) == list(range(n)) for r in rows)
    positions = Counter((x, i) for r in rows for i, x in enumerate(r))
    assert set(positions.values()) == {len(rows) // n}
    follows = Counter((a, b) for r in rows for a, b in zip(r, r[1:], strict=False))
    assert len(follows) == n * (n - 1) and set(follows.values()) == {len(rows) // n}


def test_a_rotation_would_fix_each_variants_predecessor_and_this_order_does_not():
    names = ["baseline", "copy", "int8"]
    before = {(round_order(names, r)[i - 1], x) for r in range(6) for i, x in enumerate(round_order(names, r)) if i}
    assert ("int8", "copy") in before and ("baseline", "copy") in before  # a rotation only ever has baseline, copy
    assert [round_order(names, r) for r in (0, 6)] == [names, names] and round_order([], 3) == []
