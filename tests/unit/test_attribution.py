"""Per-request energy of concurrent requests: the shares follow the tokens and sum to the window's energy."""

import pytest

from wattcut.measure.attribution import Activity, attribute


def test_one_request_gets_everything_split_into_prefill_and_decode():
    r = Activity(sent_s=0.0, done_s=1.0, token_times_s=(0.5, 0.75, 1.0), input_tokens=10)
    (out,) = attribute(100.0, [(0.0, 0.0), (0.5, 1.0), (1.0, 2.0)], [r])
    assert out["energy_j"] == pytest.approx(100.0)
    assert out["prefill_energy_j"] == pytest.approx(50.0)  # the first interval holds only the prefill


def test_tokens_share_each_interval_and_cpu_weights_the_intervals():
    a = Activity(0.0, 2.0, (1.0, 2.0), input_tokens=3)  # prefill [0,1] 4 tokens; decode [1,2] 1 token
    b = Activity(1.0, 2.0, (2.0,), input_tokens=3)  # prefill [1,2] 4 tokens
    # interval [0,1] used 1 CPU-s, [1,2] used 3 CPU-s: 25 J and 75 J of a 100 J window
    out = attribute(100.0, [(0.0, 0.0), (1.0, 1.0), (2.0, 4.0)], [a, b])
    assert out[0]["energy_j"] == pytest.approx(25.0 + 75.0 * 1 / 5)
    assert out[1]["energy_j"] == pytest.approx(75.0 * 4 / 5)
    assert sum(o["energy_j"] for o in out) == pytest.approx(100.0)


def test_an_interval_without_tokens_goes_to_the_requests_in_flight():
    a = Activity(0.0, 3.0, (2.5, 3.0), input_tokens=1)  # in flight the whole time; prefill [0, 2.5]
    b = Activity(2.9, 3.0, (3.0,), input_tokens=1)
    out = attribute(30.0, [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)], [a, b])
    assert sum(o["energy_j"] for o in out) == pytest.approx(30.0)
    assert out[0]["energy_j"] > 20.0  # the first two intervals are a's alone


def test_no_samples_spreads_by_time_over_the_requests():
    a = Activity(0.0, 1.0, (1.0,), input_tokens=1)
    out = attribute(5.0, [], [a, Activity(0.0, 1.0, (1.0,), input_tokens=1)])
    assert [o["energy_j"] for o in out] == pytest.approx([2.5, 2.5])
