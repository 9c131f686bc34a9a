"""See what trains: ``examples_preview.jsonl`` in a stage's run directory, and a W&B table.

The first :data:`N_PREVIEW` training examples, decoded from the exact token ids the model is given
(the stage's own collator or prompt encoder; special tokens kept, padding dropped), one JSON
object per line:

    text          the whole row decoded: BOS, chat-template markers and EOS included
    trained       the decoded tokens the loss is taken on (SFT: the predicted tokens under
                  ``stage.mask_prompt``, so the first token never is; RM: the completion whose
                  score is read at its last token; PPO prompts: "", PPO trains on the response
                  it samples after the prompt)
    ids           the token ids, trained_mask one 0/1 per id (1 = trained)
    n_tokens, n_trained, origin (file:line of the record), index (its place in the training data)

plus ``completion`` and ``rank`` for a ranking's rows (one line per completion of each of the
first examples). The same rows (without the id lists) go to W&B as the table
``data/examples_preview`` (:func:`rlhfkit.tracking.log_table`). Written on rank 0 only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.utilities import rank_zero_only

from rlhfkit.models.encoding import encode_prompts
from rlhfkit.tracking import log_table

PREVIEW_FILE = "examples_preview.jsonl"
N_PREVIEW = 5
TABLE_KEY = "data/examples_preview"
_TABLE_COLUMNS = ["stage", "index", "origin", "text", "trained", "n_tokens", "n_trained"]


def _row(tokenizer: Any, ids: torch.Tensor, keep: torch.Tensor, trained: torch.Tensor) -> dict[str, Any]:
    """One row's fields from its ids (T,), the mask of real tokens (T,) and the trained mask (T,)."""
    keep = keep.bool()
    row_ids = ids[keep].tolist()
    mask = trained[keep].long().tolist()
    trained_ids = [i for i, m in zip(row_ids, mask) if m]
    return {
        "text": tokenizer.decode(row_ids, skip_special_tokens=False),
        "trained": tokenizer.decode(trained_ids, skip_special_tokens=False) if trained_ids else "",
        "ids": row_ids, "trained_mask": mask, "n_tokens": len(row_ids), "n_trained": len(trained_ids),
    }


def sft_preview(tokenizer: Any, examples: Sequence[Any], collate: Callable[[list], dict], mask_prompt: bool = True,
                n: int = N_PREVIEW) -> list[dict[str, Any]]:
    """Rows of the first ``n`` SFT (or pretraining) examples, through the stage's collator.

    Trained tokens are those :func:`rlhfkit.algos.lm.masked_lm_loss` predicts: the completion
    mask (``mask_prompt``) or every real token, never the first of a row.
    """
    examples = list(examples[:n])
    if not examples:
        return []
    batch = collate(examples)
    loss_mask = batch["completion_mask"] if mask_prompt else batch["attention_mask"]
    target = loss_mask.clone()
    target[:, 0] = 0  # (B, T): position 0 is never a target
    rows = []
    for i, ex in enumerate(examples):
        row = _row(tokenizer, batch["input_ids"][i], batch["attention_mask"][i], target[i])
        rows.append({"index": i, "origin": getattr(ex, "origin", None), **row})
    return rows


def ranking_preview(tokenizer: Any, examples: Sequence[Any], collate: Callable[[list], dict],
                    n: int = N_PREVIEW) -> list[dict[str, Any]]:
    """Rows (one per completion) of the first ``n`` rankings, through the RM's collator; trained
    = the completion (the reward is read at its last token, item 8)."""
    examples = list(examples[:n])
    if not examples:
        return []
    batch = collate(examples)
    rows, r = [], 0
    for i, ex in enumerate(examples):
        for j, rank in enumerate(ex.ranks):
            row = _row(tokenizer, batch["input_ids"][r], batch["attention_mask"][r], batch["completion_mask"][r])
            rows.append({"index": i, "completion": j, "rank": rank, "origin": getattr(ex, "origin", None), **row})
            r += 1
    return rows


def prompt_preview(tokenizer: Any, prompts: Sequence[str], max_prompt_length: int,
                   origins: Sequence[str | None] | None = None, n: int = N_PREVIEW) -> list[dict[str, Any]]:
    """Rows of the first ``n`` PPO prompts, encoded as the rollout encodes them
    (:func:`rlhfkit.models.encoding.encode_prompts`); nothing of a prompt is trained on."""
    prompts = list(prompts[:n])
    if not prompts:
        return []
    ids, mask, _ = encode_prompts(tokenizer, prompts, max_prompt_length)  # (B, P) left-padded
    rows = []
    for i in range(len(prompts)):
        row = _row(tokenizer, ids[i], mask[i], torch.zeros_like(mask[i]))
        origin = origins[i] if origins is not None and i < len(origins) else None
        rows.append({"index": i, "origin": origin, **row,
                     "note": "PPO trains on the response sampled after this prompt, not on the prompt"})
    return rows


@rank_zero_only
def write_preview(run_dir: str | Path, rows: list[dict[str, Any]], stage: str, logger: Any = None) -> Path:
    """``<run_dir>/examples_preview.jsonl`` (one row a line) and the W&B table ``data/examples_preview``."""
    path = Path(run_dir) / PREVIEW_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"stage": stage, **row}, ensure_ascii=False) + "\n")
    if logger is not None and rows:
        table = [[stage] + [row.get(c) for c in _TABLE_COLUMNS[1:]] for row in rows]
        log_table(logger, TABLE_KEY, _TABLE_COLUMNS, table)  # W&B only: the JSONL above is the file
    return path


__all__ = ["N_PREVIEW", "PREVIEW_FILE", "TABLE_KEY", "prompt_preview", "ranking_preview", "sft_preview", "write_preview"]
