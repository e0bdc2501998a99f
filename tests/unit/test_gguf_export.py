"""GGUF export of a tiny random llama: names, shapes, the rotary row permutation, metadata from the template."""

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
torch = pytest.importorskip("torch")


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("WATTCUT_CACHE", str(tmp_path / "cache"))  # the template's metadata is cached there
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=96,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    template = tmp_path / "template.gguf"
    w = gguf.GGUFWriter(str(template), "llama")
    w.add_block_count(30)  # wrong on purpose: the exporter must take hyperparameters from the model
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"t{i}" for i in range(96)])
    w.add_bos_token_id(1)
    w.add_chat_template("{{ messages }}")
    w.add_tensor("token_embd.weight", np.zeros((96, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model, template


def _unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def test_export_writes_llama_tensors_and_metadata(tiny, tmp_path):
    from wattcut.models.gguf_export import write_gguf

    model, template = tiny
    out = write_gguf(model, template, tmp_path / "m.gguf", dtype="f32")
    r = gguf.GGUFReader(str(out))
    fields = {k: f.contents() for k, f in r.fields.items()}
    assert fields["llama.block_count"] == 2 and fields["llama.attention.head_count_kv"] == 2
    assert fields["llama.feed_forward_length"] == 96 and fields["tokenizer.ggml.tokens"][5] == "t5"
    assert fields["tokenizer.chat_template"] == "{{ messages }}" and fields["general.file_type"] == 0
    tensors = {t.name: np.array(t.data).reshape(list(reversed(t.shape.tolist()))) for t in r.tensors}
    assert "output.weight" not in tensors  # tied: llama.cpp reuses token_embd
    assert len(tensors) == 2 + 2 * 9
    sd = model.state_dict()
    q = sd["model.layers.1.self_attn.q_proj.weight"].numpy()
    k = sd["model.layers.1.self_attn.k_proj.weight"].numpy()
    assert not np.allclose(tensors["blk.1.attn_q.weight"], q)  # rows are permuted for llama.cpp's rotary layout
    np.testing.assert_allclose(_unpermute(tensors["blk.1.attn_q.weight"], 4), q)
    np.testing.assert_allclose(_unpermute(tensors["blk.1.attn_k.weight"], 2), k)
    np.testing.assert_allclose(tensors["blk.0.ffn_down.weight"], sd["model.layers.0.mlp.down_proj.weight"].numpy())


def test_f16_export_halves_matrices_and_keeps_norms_in_f32(tiny, tmp_path):
    from wattcut.models.gguf_export import write_gguf

    model, template = tiny
    r = gguf.GGUFReader(str(write_gguf(model, template, tmp_path / "m16.gguf")))
    types = {t.name: t.tensor_type.name for t in r.tensors}
    assert types["blk.0.attn_q.weight"] == "F16" and types["blk.0.attn_norm.weight"] == "F32"


def test_export_refuses_a_model_without_a_template_or_of_another_family(tiny):
    from types import SimpleNamespace

    from wattcut.errors import UserInputError
    from wattcut.models.gguf_export import check_exportable

    model, template = tiny
    with pytest.raises(UserInputError, match="convert_hf_to_gguf"):
        check_exportable(model.config, None)
    with pytest.raises(UserInputError, match="Llama-family"):
        check_exportable(SimpleNamespace(model_type="gpt2"), template)
