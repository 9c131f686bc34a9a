"""The speed-up switches of rlhfkit.models.fast_kernels: the same function, and on only where measured."""

from __future__ import annotations

import copy
import logging

import pytest
import torch

from rlhfkit.errors import ConfigError
from rlhfkit.models import ScalarHeadModel, build_tiny
from rlhfkit.models import fast_kernels
from rlhfkit.models.fast_kernels import (SWITCHES, FusedGELUTanh, _onednn_linear, apply_fast_kernels, gains_measured,
                                         resolve_switches, use_fast_kernels)


def test_the_stage_fast_kernels_compute_the_same_function():
    """The PPO stage's speed-ups swap modules for faster kernels of the same function (fused GELU, oneDNN
    GEMMs): logits and gradients match the original model's to fp32 rounding."""
    torch.manual_seed(0)
    model = build_tiny("nano", seed=0).model.eval()  # GPT-2: Conv1D layers, NewGELU, tied LM head
    fast = copy.deepcopy(model)
    counts = use_fast_kernels(fast)
    assert counts["gelu"] == 2
    if _onednn_linear() is not None:
        assert counts["linear"] == 2 * 4 + 1  # 4 Conv1D per layer and the LM head
    ids = torch.randint(2, 200, (16, 64))  # big enough for the oneDNN path (N * K * M >= 2^20)
    outs, grads = [], []
    for m in (model, fast):
        m.zero_grad()
        logits = m(input_ids=ids).logits
        (logits.float().log_softmax(-1)[..., 5].mean() + logits.pow(2).mean()).backward()
        outs.append(logits.detach())
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
    torch.testing.assert_close(outs[1], outs[0], atol=1e-5, rtol=1e-4)
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, atol=1e-6, rtol=1e-3, msg=name)
    assert copy.deepcopy(fast).state_dict().keys() == model.state_dict().keys()


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def test_auto_is_on_for_gpt2_fp32_on_cpu_only(monkeypatch):
    monkeypatch.setattr(fast_kernels, "cpu_vendor", lambda: "AuthenticAMD")
    gpt2 = build_tiny("nano", seed=0).model
    assert gains_measured(gpt2)
    assert gains_measured(ScalarHeadModel(gpt2.base_model, role="value"))  # a head on a GPT-2 body
    assert not gains_measured(gpt2, device_type="cuda")  # a GPU run: nothing measured there
    assert not gains_measured(copy.deepcopy(gpt2).to(torch.bfloat16))
    assert not gains_measured(_llama())  # measured slower on a Llama model
    assert resolve_switches({}, gpt2) == {name: name != "torch_compile" for name in SWITCHES}  # compile: opt-in
    assert resolve_switches({}, _llama()) == {name: False for name in SWITCHES}


def test_onednn_is_auto_on_amd_only(monkeypatch):
    """MKL runs its AVX-512 code on Intel CPUs: there oneDNN measured slower (benchmarks/README.md)."""
    gpt2 = build_tiny("nano", seed=0).model
    for vendor, onednn in (("AuthenticAMD", True), ("GenuineIntel", False), ("", False)):
        monkeypatch.setattr(fast_kernels, "cpu_vendor", lambda v=vendor: v)
        switches = resolve_switches({}, gpt2)
        assert switches["onednn_linear"] is onednn and switches["fused_gelu"] is True, vendor
        assert resolve_switches({"onednn_linear": True}, gpt2)["onednn_linear"] is True  # forced: any CPU


def test_explicit_switches_win_over_auto_and_bad_values_name_the_key():
    llama = _llama()
    forced = resolve_switches({"fused_gelu": True, "onednn_linear": "false", "lm_head_last_only": "on"}, llama)
    assert forced == {"fused_gelu": True, "onednn_linear": False, "preallocated_kv_cache": False,
                      "lm_head_last_only": True, "torch_compile": False}
    assert resolve_switches({"torch_compile": "true"}, llama)["torch_compile"] is True
    with pytest.raises(ConfigError, match=r"stage.fast_kernels.fused_gelu.*'maybe'"):
        resolve_switches({"fused_gelu": "maybe"}, llama)
    with pytest.raises(ConfigError, match=r"stage.fast_kernels.flash.*known: fused_gelu"):
        resolve_switches({"flash": True}, llama)


def test_apply_swaps_only_where_switched_on_and_logs_what_it_did(caplog):
    gpt2, llama = build_tiny("nano", seed=0).model, _llama()
    with caplog.at_level(logging.INFO, logger="rlhfkit.models.fast_kernels"):
        switches = apply_fast_kernels({"onednn_linear": False}, gpt2, llama)
    assert switches == {"fused_gelu": True, "onednn_linear": False, "preallocated_kv_cache": True,
                        "lm_head_last_only": True, "torch_compile": False}
    assert sum(isinstance(m, FusedGELUTanh) for m in gpt2.modules()) == 2
    assert type(llama.model.layers[0].mlp.down_proj) is torch.nn.Linear  # the Llama model is left alone
    line = caplog.records[-1].getMessage()
    assert "fused_gelu=on" in line and "onednn_linear=off" in line and "2 GELU" in line

