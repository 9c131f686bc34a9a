"""Model plugins: tiny models, the hf loader on a model saved locally, scalar heads, tokenizers."""

from __future__ import annotations

import math

import time

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from rlhfkit.models import (
    TINY_SIZES, ModelBundle, ScalarHeadModel, build_tiny, byte_tokenizer, last_real_index, load_hf,
    positions_from_mask, word_tokenizer,
)


def test_hf_loader_on_a_tiny_model_saved_locally(tmp_path):
    # config -> save_pretrained -> from_pretrained, as a user's hub model would go, without a download
    tokenizer = byte_tokenizer()
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=32))
    ModelBundle(model, tokenizer).save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists()
    bundle = load_hf(str(tmp_path / "m"))
    ids = torch.tensor([[3, 4, 5]])
    model.eval(), bundle.model.eval()  # GPT2Config's default dropout would make the outputs differ
    torch.testing.assert_close(bundle.model(input_ids=ids).logits, model(input_ids=ids).logits)
    assert bundle.tokenizer.pad_token_id != bundle.tokenizer.eos_token_id


def test_hf_loader_adds_a_pad_token_distinct_from_eos(tmp_path):
    tokenizer = byte_tokenizer()
    tokenizer.pad_token = tokenizer.eos_token  # a model shipped with pad == eos (GPT-2 style)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_embd=16, n_head=2))
    ModelBundle(model, tokenizer).save_pretrained(tmp_path / "m")
    bundle = load_hf(str(tmp_path / "m"))
    assert bundle.tokenizer.pad_token_id != bundle.tokenizer.eos_token_id  # item 35
    assert bundle.model.get_input_embeddings().num_embeddings >= len(bundle.tokenizer)


def test_hf_loader_bad_paths_are_one_line_naming_the_key(tmp_path, monkeypatch):
    from rlhfkit.errors import ConfigError

    (tmp_path / "file.bin").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    cases = [(tmp_path / "nope", "no model directory"), (tmp_path / "file.bin", "is a file"),
             (tmp_path / "empty", "has no config.json")]
    for path, reason in cases:
        with pytest.raises(ConfigError, match=f"'model.path': .*{reason}"):
            load_hf(str(path))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    start = time.monotonic()
    with pytest.raises(ConfigError, match="'model.path': 'nobody/no-such-model' is not a local directory and not in "
                                          "the Hugging Face cache, and the hub cannot be reached"):
        load_hf("nobody/no-such-model")
    assert time.monotonic() - start < 10  # not transformers' minute of retries
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE"):
        load_hf("nobody/no-such-model")
    with pytest.raises(ConfigError, match="neither a local directory nor a hub id"):
        load_hf("bad id with spaces")


def test_hf_loader_does_not_trust_remote_code_by_default(tmp_path, monkeypatch):
    seen = {}
    import rlhfkit.models.hf as hf

    def fake(source, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop")

    monkeypatch.setattr(hf.AutoTokenizer, "from_pretrained", fake)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    with pytest.raises(RuntimeError):
        load_hf(str(tmp_path / "m"))
    assert seen["trust_remote_code"] is False


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_tiny_family_exports_for_auto_model(tmp_path, arch):
    bundle = build_tiny(size="nano", arch=arch)
    bundle.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([[5, 6, 7, 8]])
    torch.testing.assert_close(reloaded(input_ids=ids).logits, bundle.model(input_ids=ids).logits)


def test_tiny_sizes_grow_and_are_deterministic():
    counts = [sum(p.numel() for p in build_tiny(size=s).model.parameters()) for s in TINY_SIZES]
    assert counts == sorted(counts)
    a, b = build_tiny(size="nano", seed=3), build_tiny(size="nano", seed=3)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="unknown tiny size 'huge'; known: nano"):
        build_tiny(size="huge")


def test_word_tokenizer_round_trips_and_has_distinct_pad():
    tok = word_tokenizer(["sort", ":", "a", "b"])
    ids = tok("sort : b a")["input_ids"]
    assert tok.decode(ids) == "sort : b a"
    assert tok.pad_token_id != tok.eos_token_id and tok.unk_token == "<unk>"


def test_mask_helpers():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0]])
    assert last_real_index(mask).tolist() == [3, 2]
    assert positions_from_mask(mask).tolist() == [[0, 0, 0, 1], [0, 1, 2, 2]]


def test_reward_head_init_and_round_trip(tmp_path):
    bundle = build_tiny(size="micro")
    rm = ScalarHeadModel.from_causal_lm(bundle.model, role="reward")
    width = bundle.model.config.n_embd
    assert rm.head.bias.abs().sum() == 0  # item 10: bias 0
    assert abs(rm.head.weight.std().item() - 1 / math.sqrt(width + 1)) < 0.5 / math.sqrt(width + 1)
    value = ScalarHeadModel.from_causal_lm(bundle.model, role="value")
    assert value.head.weight.abs().sum() == 0  # a value head may start at 0 (item 10)
    rm.set_normalisation(2.0, -1.0)
    ids = torch.tensor([[0, 0, 5, 6], [5, 6, 7, 8]])
    mask = (ids != 0).long()
    expected = 2.0 * rm.raw_score(ids, mask) - 1.0
    rm.save_pretrained(tmp_path, tokenizer=bundle.tokenizer)
    loaded = ScalarHeadModel.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.score(ids, mask), expected)
    as_value = ScalarHeadModel.from_pretrained(tmp_path, role="value")
    assert as_value.role == "value" and float(as_value.gain) == 1.0
    # left padding does not change the score of a sequence (position ids from the mask, item 35)
    torch.testing.assert_close(loaded.raw_score(ids[:1, 2:], mask[:1, 2:]), loaded.raw_score(ids[:1], mask[:1]))


def test_scalar_head_stays_fp32_under_autocast():
    rm = ScalarHeadModel.from_causal_lm(build_tiny(size="nano").model, role="reward")
    ids = torch.tensor([[5, 6, 7]])
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        values = rm(ids, torch.ones_like(ids))
    assert values.dtype == torch.float32  # item 39
