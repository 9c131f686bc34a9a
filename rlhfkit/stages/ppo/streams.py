"""PPO's data plumbing: endless, resumable prompt / pretraining-text batches; RNG state capture.

A PPO run counts iterations, not epochs: iteration i uses prompt batch i. :class:`BatchStream`
makes batch i a function of i alone (seeded shuffles, the same on every rank: RLHF_DETAILS item
40), so "the data position" in a checkpoint is just the iteration count, and Lightning's
one-batch-ahead prefetch cannot shift it.

A stream with a ``stop`` is finite and sized: iterating it yields batches ``start .. stop - 1``
and ``len()`` is ``stop``, the batch count of the whole run. Lightning's training loop treats the
stream as one epoch of ``len()`` batches; on a resume it restores how many of them were done (the
checkpoint's iteration, = ``start``) and counts on from there, so its progress bar reads
"iterations done / total" with an ETA, and the epoch ends exactly at ``stop`` (after a resume
mid-run, :mod:`rlhfkit.stages.ppo.progress_bar` gives the bar its total). Without a ``stop`` (the
default) the stream is endless and unsized.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from rlhfkit.models.encoding import leading_special_ids, prompt_ids

log = logging.getLogger(__name__)


class BatchStream:
    """Batches drawn without end from ``items``, sharded over ranks.

    The items are concatenated epoch after epoch, epoch e shuffled by ``randperm`` seeded with
    ``seed + e`` (one shuffle for all ranks, item 40). Global batch i covers positions
    ``[i * W * b, (i + 1) * W * b)`` of that endless sequence (W ranks, b = ``batch_size``), and
    rank r takes its r-th slice of b items. Fewer items than a global batch is fine (they repeat).

    Args:
        items: prompts (or pretraining texts).
        batch_size: items per rank per batch.
        seed: shuffle seed.
        stop: None (endless), or the batch index iteration stops before (see the module doc).
    """

    def __init__(self, items: Sequence[Any], batch_size: int, seed: int = 0, stop: int | None = None) -> None:
        if not items:
            raise ValueError("BatchStream: no items")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.items, self.batch_size, self.seed = list(items), batch_size, seed
        self.rank, self.world_size = 0, 1
        self.start = 0  # the batch index __iter__ starts at (set on resume)
        self.stop = stop  # the batch index __iter__ stops before (None: endless)
        self._perms: dict[int, list[int]] = {}

    def shard(self, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in [0, {world_size})")
        self.rank, self.world_size = rank, world_size

    def _perm(self, epoch: int) -> list[int]:
        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(self.seed + epoch)
            self._perms = {epoch: torch.randperm(len(self.items), generator=gen).tolist()}  # keep one epoch
        return self._perms[epoch]

    def batch(self, index: int) -> list[Any]:
        """This rank's items of global batch ``index``."""
        n, first = len(self.items), (index * self.world_size + self.rank) * self.batch_size
        return [self.items[self._perm(j // n)[j % n]] for j in range(first, first + self.batch_size)]

    def __bool__(self) -> bool:
        return True  # a stream is never "empty" (an endless one has no len() to ask)

    def __len__(self) -> int:
        """``stop``: the batches of the whole run, those before ``start`` included (Lightning counts a
        resumed epoch's done batches itself). An endless stream has no length (a TypeError, which
        Lightning reads as "unsized")."""
        if self.stop is None:
            raise TypeError("an endless BatchStream (stop=None) has no length")
        return max(int(self.stop), 0)

    def state_dict(self) -> dict[str, Any]:
        """Lightning's resumable-loader interface, with nothing in it: the data position is the PPO
        iteration count, checkpointed with the module and set as ``start`` before iterating. Having
        it tells Lightning a mid-run checkpoint resumes exactly (no "dataloader is not resumable"
        warning for the sized stream)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore (see :meth:`state_dict`)."""

    def __iter__(self) -> Iterator[list[Any]]:
        index = self.start
        while self.stop is None or index < self.stop:
            yield self.batch(index)
            index += 1


def encode_texts(tokenizer, texts: Sequence[str], max_length: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pretraining texts -> right-padded ids (B, T) and mask (B, T), each cut to ``max_length`` tokens."""
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"][:max_length] for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, :len(row)] = 1
    return ids.to(device), mask.to(device)


def count_truncated(tokenizer, texts: Sequence[str], max_length: int, where: str, limit_key: str, kept: str) -> int:
    """How many ``texts`` have more than ``max_length`` tokens and will be cut (one warning if any).

    Tokenized exactly as the rollout's :func:`rlhfkit.models.encoding.encode_prompts` and
    :func:`encode_texts` do (no special tokens), once at load time, so the count is exact and the
    cut is reported in ``metrics.json`` rather than happening silently in every batch.
    """
    lead = leading_special_ids(tokenizer)  # a prompt gets the tokenizer's BOS, as in encode_prompts
    n = sum(len(prompt_ids(tokenizer, t, lead)[0] if kept == "last" else
                tokenizer(t, add_special_tokens=False)["input_ids"]) > max_length for t in texts)
    if n:
        log.warning("%s: %d of %d examples exceed %s=%d tokens; only their %s %d tokens are used",
                    where, n, len(texts), limit_key, max_length, kept, max_length)
    return n


def truncation_counts(tokenizer, prompts: Sequence[str], texts: Sequence[str] | None, stage: Any) -> dict[str, int]:
    """``data/prompts/train/truncated`` (prompts keep their last ``stage.max_prompt_length`` tokens)
    and, for PPO-ptx, ``data/pretrain/train/truncated`` (texts keep their first ``stage.ptx_max_length``)."""
    out = {"data/prompts/train/truncated": count_truncated(
        tokenizer, prompts, stage.max_prompt_length, "data.prompts.train", "stage.max_prompt_length", "last")}
    if texts is not None:
        out["data/pretrain/train/truncated"] = count_truncated(
            tokenizer, texts, stage.ptx_max_length, "data.pretrain.train", "stage.ptx_max_length", "first")
    return out


def rng_states(generator: torch.Generator | None) -> dict[str, Any]:
    """This process's random states: torch (CPU, CUDA), numpy, python, and the sampling generator."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    # tensors and plain Python values only, so `torch.load(weights_only=True)` (Lightning's default) reads it
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
              "sampler": generator.get_state() if generator is not None else None}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> torch.Tensor | None:
    """Restore :func:`rng_states` (global ones now); returns the sampling generator's state."""
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    return states.get("sampler")


def gather_from_ranks(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` (a collective under torch.distributed; ``[obj]`` otherwise)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over ranks (a copy); ``t`` itself in a single process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out
