"""A trained reward model (from the RM stage) as a reward function, its normalisation applied."""

from __future__ import annotations

from pathlib import Path

import torch

from rlhfkit.models.encoding import encode_pairs
from rlhfkit.models.scalar_head import load_scalar_bundle


class RewardModelFn:
    """Scores text with a saved reward model.

    Args:
        path: a directory written by the RM stage (``ScalarHeadModel.save_pretrained``).
        max_length: tokens per (prompt, completion); longer pairs lose the start of the prompt.
        batch_size: pairs per forward pass.
        normalise: apply the saved gain/offset (item 9); off gives the raw head output.
    """

    def __init__(self, path: str, max_length: int = 256, batch_size: int = 64, normalise: bool = True, device: str = "cpu") -> None:
        if not Path(path).exists():
            raise FileNotFoundError(f"reward.path: no reward model at '{path}'")
        self.model, self.tokenizer = load_scalar_bundle(path, role="reward")
        self.model.eval().to(device)  # item 23: dropout off while it judges
        self.max_length, self.batch_size, self.normalise, self.device = max_length, batch_size, normalise, device

    @torch.no_grad()
    def __call__(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        scores = []
        for start in range(0, len(prompts), self.batch_size):
            enc = encode_pairs(self.tokenizer, prompts[start:start + self.batch_size],
                               completions[start:start + self.batch_size], self.max_length)
            ids, mask = enc.input_ids.to(self.device), enc.attention_mask.to(self.device)
            score = self.model.score(ids, mask) if self.normalise else self.model.raw_score(ids, mask)
            scores.append(score.float().cpu())
        return torch.cat(scores) if scores else torch.zeros(0)
