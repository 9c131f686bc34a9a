"""Compute accounting: FLOPs of each stage from the tokens it actually processed (item 29).

The usual transformer estimate (Kaplan et al. 2020): training costs 6 * N FLOPs per token
(forward 2N + backward 4N) and a forward-only pass 2 * N, where N counts ALL parameters here
(embeddings included: with a 191-token vocabulary they are a small share). Attention's
context-dependent term is left out (sequences are <= 64 tokens). Token counts are real
(non-padding) tokens: padding is compute a smarter batcher would not spend.

IG's figures (item 29): 175B SFT 4.9 and PPO-ptx 60 petaflop/s-days, GPT-3 pretraining 3,640,
i.e. RLHF at about 1.6% of pretraining compute. :data:`PFS_DAY` converts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

PFS_DAY = 1e15 * 86400  # FLOPs in one petaflop/s-day
TRAIN_FLOPS_PER_PARAM_TOKEN = 6  # forward 2 + backward 4
FORWARD_FLOPS_PER_PARAM_TOKEN = 2


def train_flops(params: int, tokens: int) -> float:
    """6 * N * T: training ``params`` parameters on ``tokens`` tokens."""
    return float(TRAIN_FLOPS_PER_PARAM_TOKEN) * params * tokens


def forward_flops(params: int, tokens: int) -> float:
    """2 * N * T: a forward-only pass (sampling, scoring, validation)."""
    return float(FORWARD_FLOPS_PER_PARAM_TOKEN) * params * tokens


def stage_flops(params: int, train_tokens: int = 0, forward_tokens: int = 0) -> float:
    return train_flops(params, train_tokens) + forward_flops(params, forward_tokens)


def pfs_days(flops: float) -> float:
    return flops / PFS_DAY


def share(part: float, whole: float) -> float:
    """``part / whole`` (NaN when ``whole`` is 0)."""
    return part / whole if whole else float("nan")


def ppo_flops(policy_params: int, value_params: int, reward_params: int, iterations: int, episodes: int,
              prompt_tokens: float, response_tokens: float, ppo_epochs: int, ptx_tokens: float = 0.0) -> dict[str, float]:
    """FLOPs of a PPO run from its history (per-iteration means of prompt and response tokens).

    Per iteration, over ``episodes`` episodes of ``prompt_tokens + response_tokens`` tokens each:
    sampling (policy forward, KV cache: 2 N_pol per token), scoring (policy, reference, value
    model, reward model: one forward each), and ``ppo_epochs`` updates of policy and value
    model (6 N each per token); PPO-ptx adds 6 N_pol per pretraining token (``ptx_tokens`` is the
    run's total).
    """
    seq = episodes * (prompt_tokens + response_tokens)  # tokens per iteration
    sampling = forward_flops(policy_params, seq)
    scoring = forward_flops(2 * policy_params + value_params + reward_params, seq)
    updates = ppo_epochs * train_flops(policy_params + value_params, seq)
    ptx = train_flops(policy_params, ptx_tokens)
    per_iteration = sampling + scoring + updates
    return {"sampling": iterations * sampling, "scoring": iterations * scoring, "updates": iterations * updates,
            "ptx": ptx, "total": iterations * per_iteration + ptx}


class TokenCounter(pl.Callback):
    """Counts the real tokens of every training and validation batch (``batch["attention_mask"]``)
    and writes ``{"train_tokens", "forward_tokens", "train_batches", "params"}`` to ``path`` when
    training ends. Batches without an attention mask (PPO's prompt lists) are not counted: the
    PPO stage's tokens come from its history (:func:`ppo_flops`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.train_tokens = self.forward_tokens = self.train_batches = 0

    @staticmethod
    def _tokens(batch: Any) -> int | None:
        if isinstance(batch, dict) and "attention_mask" in batch:
            return int(batch["attention_mask"].sum())
        return None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = self._tokens(batch)
        if n is not None:
            self.train_tokens += n
            self.train_batches += 1

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        n = self._tokens(batch)
        if n is not None and not trainer.sanity_checking:
            self.forward_tokens += n

    def on_train_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        params = sum(p.numel() for p in pl_module.parameters())
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.path).write_text(json.dumps({
            "train_tokens": self.train_tokens, "forward_tokens": self.forward_tokens,
            "train_batches": self.train_batches, "params": params}, indent=2) + "\n")
