"""The one clock every LM runtime times generation with (TTFT, later tokens, stop tokens, on_first)."""

from wattcut.runtimes.streaming import TokenClock, greedy


def _feed(tokens):
    it = iter(tokens)
    return lambda: next(it)


def test_greedy_stops_on_a_stop_token_and_excludes_it():
    fed: list[int] = []
    firsts: list[int] = []
    clock = TokenClock(on_first=lambda: firsts.append(1))
    out, ttft, times = greedy(clock, _feed([5, 6, 2, 7]), fed.append, max_new_tokens=10, stop_ids={2})
    assert out == [5, 6]
    assert fed == [5, 6]  # the stop token is not fed back
    assert firsts == [1]  # called once, when the first token is known
    assert ttft >= 0 and len(times) == 2  # three tokens seen: the first is TTFT, two later times


def test_greedy_stops_at_the_limit_without_feeding_the_last_token():
    fed: list[int] = []
    out, _, times = greedy(TokenClock(), _feed([1, 2, 3, 4]), fed.append, max_new_tokens=3, stop_ids=set())
    assert out == [1, 2, 3] and fed == [1, 2] and len(times) == 2


def test_greedy_stops_when_the_runtime_says_it_is_done():
    out, _, _ = greedy(TokenClock(), _feed([1, 2, 3]), lambda t: None, 10, set(), done=lambda: True)
    assert out == [1]


def test_a_streamer_handing_several_tokens_at_once_gives_zero_gaps_and_nothing_streamed_is_all_ttft():
    clock = TokenClock()
    clock.start()
    clock.tick(3)
    _, ttft, times = clock.result([1, 2, 3])
    assert times == [0.0, 0.0] and ttft >= 0
    empty: list[int] = []
    quiet = TokenClock(on_first=lambda: empty.append(1))
    quiet.end()
    assert empty == [1] and quiet.times == []
