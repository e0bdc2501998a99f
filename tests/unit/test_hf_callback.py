"""WattcutCallback on a real transformers.Trainer: per-epoch training, evaluation and saves metered apart."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wattcut

pytest.importorskip("accelerate")  # transformers.Trainer needs it
REPO = Path(__file__).resolve().parents[2]


class Rows:
    """Random token sequences with a label that depends on the first token (learnable, deterministic)."""

    def __init__(self, n, seq=128, vocab=500, seed=0):
        import torch

        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(5, vocab, (n, seq), generator=g)
        self.labels = (self.ids[:, 0] % 2).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        import torch

        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.labels[i]}


def tiny_trainer(tmp_path, callback, hidden=128, seq=128, **args):
    import torch
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=500, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=4, intermediate_size=4 * hidden,
        max_position_embeddings=128, num_labels=2,
    )  # fmt: skip
    model = BertForSequenceClassification(config)
    defaults = dict(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=16, per_device_eval_batch_size=32,
        num_train_epochs=2, learning_rate=1e-3, report_to=[], logging_strategy="no", save_strategy="no",
        eval_strategy="epoch", use_cpu=True, disable_tqdm=True, dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    targs = TrainingArguments(**(defaults | args))
    return Trainer(
        model=model, args=targs, train_dataset=Rows(320), eval_dataset=Rows(160, seed=1), callbacks=[callback]
    )


@pytest.mark.integration  # ~15 s: training long enough that train()'s own setup (outside every callback) is < 2%
def test_epochs_evaluations_and_saves_are_metered_apart_and_add_up(tmp_path):
    if not os.environ.get("WATTCUT_TEST_CHILD"):
        # In a fresh process, as a user's would be: Trainer.train() runs accelerate's gc.collect() before any
        # callback is called, and in a process that holds every earlier test's objects that takes seconds.
        node = f"{Path(__file__).relative_to(REPO)}::test_epochs_evaluations_and_saves_are_metered_apart_and_add_up"
        env = {**os.environ, "WATTCUT_TEST_CHILD": "1"}
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", node], cwd=REPO,
                           env=env, capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        assert "phases " in r.stdout and "1 passed" in r.stdout
        return
    from wattcut.integrations.hf import WattcutCallback

    callback = WattcutCallback(country="FRA")
    # 20 steps per epoch, evaluation every 12 steps and a save every 20: they split the epochs' training windows
    trainer = tiny_trainer(
        tmp_path, callback, eval_strategy="steps", eval_steps=12, save_strategy="steps", save_steps=20
    )
    trainer.evaluate()  # warm the evaluation path once (and: an evaluation outside train() is metered too)
    assert [p.phase for p in callback.phases] == ["evaluate"]
    with wattcut.measure("around") as around:
        trainer.train()
    phases = callback.phases[1:]
    kinds = [(p.phase, p.epoch if p.phase == "train" else None) for p in phases]
    assert [k for k in kinds if k[0] == "train"] == [("train", 1), ("train", 2)]
    # steps 12, 24, 36 and the last (40) are evaluated; 20 and 40 are saved
    assert sum(k[0] == "evaluate" for k in kinds) == 4 and sum(k[0] == "save" for k in kinds) == 2
    # epoch 1: steps 1-12 | eval | 13-20 | save | the epoch's close; epoch 2: 21-24 | eval | 25-36 | eval | 37-40 |
    # eval, save | close
    assert [p.segments for p in phases if p.phase == "train"] == [3, 4]
    total = sum(p.energy_j for p in phases)
    outer = around.result.energy_j
    assert total <= outer and total == pytest.approx(outer, rel=0.02)
    assert callback.run is not None and callback.run.path == ("around", "trainer")
    print(f"phases {total:.3f} J of {outer:.3f} J around train() ({total / outer:.4f})")
    for p in phases:
        assert p.energy_j > 0 and p.methods["cpu"]
        if p.estimated:
            assert p.low_j <= p.energy_j <= p.high_j

    block = callback.co2_eq_emissions()
    assert block["emissions"] == pytest.approx(sum(p.co2e_g for p in phases) + callback.phases[0].co2e_g)
    assert block["training_type"] == "fine-tuning" and "France" in block["geographical_location"]
    written = tmp_path / "out"
    assert json.loads((written / "co2_eq_emissions.json").read_text()) == block
    table = (written / "wattcut_energy.md").read_text()
    assert table.count("| train |") == 2 and table.count("| evaluate |") == 5

    from huggingface_hub import ModelCardData

    card = ModelCardData(co2_eq_emissions=block, license="apache-2.0")
    import yaml

    back = yaml.safe_load(card.to_yaml())
    assert back["co2_eq_emissions"] == block


def test_epoch_evaluation_and_bad_settings(tmp_path):
    from wattcut.errors import UserInputError
    from wattcut.integrations.hf import WattcutCallback

    with pytest.raises(UserInputError, match="pue"):
        WattcutCallback(pue=0.2)
    callback = WattcutCallback(write=False, emissions_csv=tmp_path / "emissions.csv")
    trainer = tiny_trainer(tmp_path, callback, hidden=32, seq=16, num_train_epochs=1)
    trainer.train()
    assert [(p.phase, p.segments) for p in callback.phases] == [("train", 1), ("evaluate", 1)]
    import csv

    rows = list(csv.DictReader((tmp_path / "emissions.csv").open()))  # the run's row and its phases' once each
    assert [r["wattcut_phase"] for r in rows] == ["trainer", "trainer/train", "trainer/evaluate"]
    assert not (tmp_path / "out" / "co2_eq_emissions.json").exists()
    with pytest.raises(RuntimeError, match="No phase"):
        WattcutCallback().co2_eq_emissions()
