"""Property-based tests of the experiment loader (Hypothesis): any TOML gives a config or a UserInputError.

Generated files mix real settings (every field of every table, with values of any TOML
type) with misspelt keys, unknown tables, and techniques and tasks by name; what must never
happen is any other exception (which the CLI would show as a traceback and exit 1).
"""

import dataclasses
import tomllib
import typing

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattcut.compress import TECHNIQUES
from wattcut.errors import UserInputError
from wattcut.experiment import parse_experiment
from wattcut.settings import (
    CarbonConfig,
    DataConfig,
    DeployConfig,
    EvaluateConfig,
    InferConfig,
    MeasureConfig,
    ModelConfig,
    TrainConfig,
)
from wattcut.tasks.catalog import TASKS, load_registry

load_registry()
TABLES = {
    "model": ModelConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "infer": InferConfig,
    "measure": MeasureConfig,
    "carbon": CarbonConfig,
    "deploy": DeployConfig,
}
STUDY_KEYS = ["name", "trials", "seed", "threads", "out", "save_variants", "primary_task"]

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.booleans(),
    st.sampled_from(["sst2", "auto", "csv", "rss", "FRA", "WORLD", "refuse", "previous", "relative", "realtime"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _table(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    keys = st.sampled_from(names) | st.text(min_size=1, max_size=12)
    return st.dictionaries(keys, values, max_size=5)


def _plausible(cls):
    """Mostly valid values for every field, so generation reaches deep validation too."""
    hints = typing.get_type_hints(cls)
    fields = {}
    for f in dataclasses.fields(cls):
        if f.name == "version":
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        options = [values]
        if default is not None and not isinstance(default, tuple):
            options.append(st.just(default))
        if hints[f.name] in (int, int | None):
            options.append(st.integers(min_value=-3, max_value=50))
        if hints[f.name] in (float, float | None):
            options.append(st.floats(min_value=-1, max_value=2))
        fields[f.name] = st.one_of(*options)
    return st.fixed_dictionaries({}, optional=fields)


technique_steps = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(TECHNIQUES.names()) | st.text(max_size=10)},
        optional={
            "amount": values,
            "keep": values,
            "rank": values,
            "storage": values,
            "teacher": values,
            "epochs": values,
        },
    ),
    max_size=3,
)
task_tables = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(TASKS.names()) | st.text(max_size=10)},
        optional={
            "id": values,
            "max_length": values,
            "stride": values,
            "shots": values,
            "template": values,
            "verbalizers": values,
            "mode": values,
            "data": _plausible(DataConfig),
            "tasks": values,
            "prompts": values,
        },
    ),
    max_size=3,
)
good_model = st.fixed_dictionaries(
    {"name_or_path": st.just("sentence-transformers/all-MiniLM-L6-v2")},
    optional={k: values for k in ("revision", "trust_remote_code", "allow_pickle", "gguf_file")},
)
good_data = st.fixed_dictionaries(
    {"name": st.sampled_from(["sst2", "financial_phrasebank"])},
    optional={
        "max_length": st.integers(-2, 600) | values,
        "train_size": st.integers(-2, 10**6) | values,
        "eval_size": st.integers(-2, 10**6) | values,
        "encoding": st.sampled_from(["utf-8", "latin-1", "nope"]) | values,
        "text_column": values,
    },
)
# Mostly well-formed files (so generation reaches the deep checks), sometimes anything at all.
documents = st.fixed_dictionaries(
    {
        "model": st.one_of(good_model, good_model, good_model, _table(ModelConfig)),
        "data": st.one_of(good_data, good_data, good_data, _plausible(DataConfig), _table(DataConfig)),
    },
    optional={
        "study": st.dictionaries(st.sampled_from(STUDY_KEYS) | st.text(max_size=8), values, max_size=4),
        **{name: _plausible(cls) | _table(cls) for name, cls in TABLES.items() if name not in ("model", "data")},
        "variants": st.lists(
            st.fixed_dictionaries({"name": st.text(max_size=8) | values, "techniques": technique_steps}), max_size=3
        )
        | values,
        "tasks": st.one_of(task_tables.filter(bool), task_tables.filter(bool), values),
    },
)


def _toml(doc):
    """The document as TOML text, or None when TOML cannot hold it (then nothing to load)."""
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents)
def test_any_experiment_file_loads_or_names_the_problem(doc):
    text = _toml(doc)
    if text is None:
        return
    try:
        parse_experiment(tomllib.loads(text), source="<generated>")
    except UserInputError as e:
        assert e.problem and e.fix  # a message that names the problem and the fix
