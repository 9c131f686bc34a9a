"""``torch.compile`` (inductor) for PPO's scoring passes and updates: the ``torch_compile`` switch of
``stage.fast_kernels``.

What is compiled: every forward that runs on a whole rollout (the policy's and the reference's
logprobs, the critic, the reward model, and the policy and critic in the PPO epochs, backward
included). What is not: the sampler's decode steps, a new shape per token, which keep the eager
policy. So the policy gets a compiled *wrapper* (``torch.compile(policy)``: the same module and
parameters, nothing added to its state dict) that the scoring passes call, while the reference,
critic and reward model, which never sample, are compiled in place (``nn.Module.compile``: their
state dicts and checkpoints are unchanged).

Why it is a switch and off by default: inductor compiles each model on its first call and again
for a new sequence length (then with dynamic shapes), up to a minute for a PPO stage's four models
on a 2-core CPU, and on that CPU the step was no faster (``llama_medium`` 7.01 vs 7.03 s, ``small``
31% slower: benchmarks/README.md). It is there for GPUs, where it was not measured yet.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


def compile_scoring(policy: nn.Module, *frozen_or_critics: Any) -> nn.Module:
    """The policy's compiled scoring wrapper; ``frozen_or_critics`` (reference, critic, reward model;
    None or a non-module such as a LoRA policy's adapter-disabled reference is skipped) are
    compiled in place."""
    compiled = [model for model in frozen_or_critics if isinstance(model, nn.Module)]
    for model in compiled:
        model.compile()
    log.info("torch.compile: the policy's scoring passes and %s (compiled on first use)",
             ", ".join(type(model).__name__ for model in compiled) or "no other model")
    return torch.compile(policy)


def uncompiled(model: nn.Module) -> nn.Module:
    """The module under a ``torch.compile`` wrapper (the wrapper's type says nothing of the model)."""
    return getattr(model, "_orig_mod", model)
