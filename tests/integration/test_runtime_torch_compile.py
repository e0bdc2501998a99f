"""A runtime added as one module: PyTorch with torch.compile, reached through ``to_runtime``."""

import numpy as np
import pytest
import torch

from wattcut.compress import TECHNIQUES, check_pipeline
from wattcut.errors import UserInputError
from wattcut.runtimes.available import probe_runtimes
from wattcut.runtimes.pytorch import TorchClassifier
from wattcut.runtimes.registry import runtimes
from wattcut.settings import TechniqueStep


def _step(name, **settings):
    return TechniqueStep(name, TECHNIQUES.get(name).config_cls(**settings))


def _tiny_bert():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=3
    )
    return TorchClassifier(BertForSequenceClassification(config).eval())


def test_the_runtime_is_registered_and_listed_by_env():
    spec = runtimes().get("pytorch-compile")
    assert spec.convert is not None and spec.takes == ("pytorch",)
    probe = {p.runtime: p for p in probe_runtimes()}["pytorch-compile"]
    assert probe.available and probe.detail.startswith(torch.__version__.split("+")[0])


def test_to_runtime_chains_after_pytorch_steps_and_nothing_pytorch_follows_it():
    check_pipeline("v", (_step("prune_ffn_neurons", amount=0.5), _step("to_runtime", runtime="pytorch-compile")))
    with pytest.raises(UserInputError, match="produced a pytorch-compile model"):
        check_pipeline("v", (_step("to_runtime", runtime="pytorch-compile"), _step("prune_ffn_neurons", amount=0.5)))
    assert TECHNIQUES.get("to_runtime").routes(_step("to_runtime", runtime="pytorch-compile").config) == (
        ("pytorch",),
        "pytorch-compile",
        ("sequence-classifier",),
    )


def test_to_runtime_refuses_an_unknown_runtime_and_one_reached_by_its_own_techniques():
    with pytest.raises(UserInputError, match="pytorch-compile"):  # did you mean
        _step("to_runtime", runtime="pytorch-compiled")
    with pytest.raises(UserInputError, match="its own techniques"):
        _step("to_runtime", runtime="onnxruntime")


def test_the_compiled_classifier_loads_in_its_own_phase_and_agrees_with_eager(tmp_path):
    eager = _tiny_bert()
    compiled = TECHNIQUES.get("to_runtime").apply(eager, _step("to_runtime", runtime="pytorch-compile").config, None)
    assert compiled.runtime == "pytorch-compile" and compiled.capabilities.load_phase
    compiled.load()
    for rows, length in ((1, 5), (3, 11)):  # batch 1 is specialised by torch; other shapes are dynamic
        rng = np.random.default_rng(rows)
        batch = {
            "input_ids": rng.integers(0, 64, size=(rows, length)),
            "attention_mask": np.ones((rows, length), dtype=np.int64),
            "token_type_ids": np.zeros((rows, length), dtype=np.int64),
        }
        np.testing.assert_allclose(compiled.logits(batch), eager.logits(batch), rtol=1e-4, atol=1e-5)
    facts = compiled.facts(tmp_path)
    assert facts.runtime == "pytorch-compile" and facts.parameters == eager.facts(tmp_path).parameters
    assert compiled.clone().runtime == "pytorch-compile"
