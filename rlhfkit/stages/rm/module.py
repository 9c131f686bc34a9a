"""Step 2, the reward model (RLHF_DETAILS items 6-10), as a LightningModule.

Glue only: the loss is :func:`rlhfkit.algos.ranking_loss` (IG eq. 1, every pair of a prompt in
one batch element, item 6), the counts come from :mod:`rlhfkit.stages.rm.metrics`, the model
is a :class:`rlhfkit.models.ScalarHeadModel` (reward read at the last real token, item 8; head
init item 10). A batch is what :class:`rlhfkit.stages.rm.batching.RankingCollator` makes:
every completion of every prompt in one backbone forward.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torchmetrics import MeanMetric
from transformers import PreTrainedTokenizerBase

from rlhfkit.algos import pairwise_margin, ranking_accuracy, ranking_loss
from rlhfkit.data.examples import group_of
from rlhfkit.stages.rm.config import RMConfig
from rlhfkit.stages.rm.metrics import PairCounts, accuracy, accuracy_table, pair_counts_per_example
from rlhfkit.models.encoding import encode_pairs
from rlhfkit.models.scalar_head import ScalarHeadModel
from rlhfkit.optimizers import lightning_optimizers
from rlhfkit.tracking import log_table

TABLE_COLUMNS = ["epoch", "prompt", "chosen", "rejected", "score_chosen", "score_rejected", "labeler", "group"]


def metric_name(name: str) -> str:
    """A labeler id or group as a metric-key segment (no slashes or spaces)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)) or "_"


def scores_grid(raw: torch.Tensor, slot: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
    """(N,) packed row scores -> (B, K) grid, 0 where a completion is absent (rank -1)."""
    grid = raw.new_zeros(ranks.numel())  # (B*K,)
    return grid.index_copy(0, slot, raw).view(ranks.shape)  # (B, K)


@torch.no_grad()
def score_texts(model: ScalarHeadModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                completions: Sequence[str], max_length: int, batch_size: int = 64,
                normalised: bool = False) -> torch.Tensor:
    """(N,) RM scores of (prompt, completion) pairs, encoded as the RM stage and
    :class:`rlhfkit.rewards.reward_model.RewardModelFn` encode them; raw unless ``normalised``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(prompts), batch_size):
        enc = encode_pairs(tokenizer, list(prompts[start:start + batch_size]),
                           list(completions[start:start + batch_size]), max_length)
        ids, mask = enc.input_ids.to(device), enc.attention_mask.to(device)
        out.append((model.score(ids, mask) if normalised else model.raw_score(ids, mask)).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


class RewardModelModule(pl.LightningModule):
    """Trains a scalar-head reward model on K-way rankings (pairwise = K 2).

    Args:
        model: the reward model (trained in place; ``ScalarHeadModel.from_causal_lm(sft, "reward")``).
        tokenizer: its tokenizer.
        config: the stage's settings (:class:`rlhfkit.stages.rm.config.RMConfig`): ``lr``, ``margin``
            (m in -log sigmoid(r_w - r_l - m), Llama 2's margin; 0 = IG's loss, item 6),
            ``group_key`` and ``n_table_pairs`` (best vs worst completion of a prompt, logged as a
            table each validation epoch) are read here.
        make_optimizer: ``(params, lr) -> Optimizer`` (the ``optim`` plugin with its options bound).
        make_scheduler: ``(optimizer, total_steps) -> LRScheduler`` or None for a constant LR.
        labeler_names: labeler ids of the validation data, in the collator's index order.
        group_names: labeler groups of the validation data, in the collator's index order.
        samples_dir: where the table goes as JSONL when W&B is off.
    """

    def __init__(
        self,
        model: ScalarHeadModel,
        tokenizer: PreTrainedTokenizerBase,
        config: RMConfig,
        make_optimizer: Callable[..., torch.optim.Optimizer],
        make_scheduler: Callable[[torch.optim.Optimizer, int], Any] | None = None,
        labeler_names: Sequence[str] = (),
        group_names: Sequence[str] = (),
        samples_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(dataclasses.asdict(config))  # plain values: checkpoints load with weights_only
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.make_optimizer = make_optimizer
        self.make_scheduler = make_scheduler
        self.labeler_names = list(labeler_names)
        self.group_names = list(group_names)
        self.samples_dir = samples_dir
        self.val_loss = MeanMetric()
        self.val_margin = MeanMetric()
        self.val_pairs = PairCounts(1)
        self.val_pairs_by_labeler = PairCounts(len(self.labeler_names))
        self.val_pairs_by_group = PairCounts(len(self.group_names))
        self.val_report: dict[str, Any] = {}
        self._table_rows: list[list[Any]] = []

    def on_fit_start(self) -> None:
        """Train mode for the model before anything runs (dropout as configured, ``model.dropout``):
        ``from_pretrained`` returns a model in eval mode and Lightning (2.x) keeps whatever mode a
        module is in at the start of fit; after each validation it restores this one."""
        self.model.train()

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """Scores (B, K) of every completion of every prompt, from ONE backbone forward (item 6)."""
        raw = self.model.raw_score(batch["input_ids"], batch["attention_mask"])  # (N,) at the last real token, item 8
        return scores_grid(raw, batch["slot"], batch["ranks"])  # (B, K)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        scores = self(batch)  # (B, K)
        loss = ranking_loss(scores, batch["ranks"], self.config.margin)  # item 6
        correct, total = ranking_accuracy(scores.detach(), batch["ranks"])
        n = batch["ranks"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/accuracy", correct.float() / total.clamp(min=1), batch_size=n)
        self.log("train/pairs", total.float(), reduce_fx="sum", batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        scores = self(batch)  # (B, K)
        ranks = batch["ranks"]
        correct, total = pair_counts_per_example(scores, ranks)  # (B,), (B,)
        n_pairs = int(total.sum())
        if n_pairs == 0:  # a batch of all-tied rankings has nothing to score
            return
        self.val_loss.update(ranking_loss(scores, ranks, self.config.margin), weight=int((total > 0).sum()))
        self.val_margin.update(pairwise_margin(scores, ranks), weight=n_pairs)
        self.val_pairs.update(correct, total)
        self.val_pairs_by_labeler.update(correct, total, batch["labeler_idx"])
        self.val_pairs_by_group.update(correct, total, batch["group_idx"])
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            self._collect_table_rows(batch["examples"], scores.detach().float().cpu())

    def _collect_table_rows(self, examples: Sequence[Any], scores: torch.Tensor) -> None:
        for b, ex in enumerate(examples):
            if len(self._table_rows) >= self.config.n_table_pairs:
                return
            best = min(range(len(ex.ranks)), key=lambda i: ex.ranks[i])
            worst = max(range(len(ex.ranks)), key=lambda i: ex.ranks[i])
            if ex.ranks[best] == ex.ranks[worst]:
                continue
            self._table_rows.append([
                self.current_epoch, ex.prompt, ex.completions[best], ex.completions[worst],
                float(scores[b, best]), float(scores[b, worst]), ex.labeler_id, group_of(ex, self.config.group_key),
            ])

    def on_validation_epoch_end(self) -> None:
        (correct,), (n_pairs,) = self.val_pairs.counts()
        if n_pairs:
            acc = accuracy(correct, n_pairs)
            self.log("val/loss", self.val_loss.compute(), prog_bar=True)
            self.log("val/accuracy", acc, prog_bar=True)
            self.log("val/margin", self.val_margin.compute())
            self.log("val/pairs", float(n_pairs))
            per_labeler = accuracy_table(self.labeler_names, *self.val_pairs_by_labeler.counts())
            per_group = accuracy_table(self.group_names, *self.val_pairs_by_group.counts())
            for name, row in per_group.items():
                self.log(f"val/accuracy/group/{metric_name(name)}", row["accuracy"])
            for name, row in per_labeler.items():
                self.log(f"val/accuracy/labeler/{metric_name(name)}", row["accuracy"])
            if not self.trainer.sanity_checking:
                self.val_report = {
                    "epoch": self.current_epoch, "accuracy": acc, "loss": float(self.val_loss.compute()),
                    "margin": float(self.val_margin.compute()), "n_pairs": n_pairs,
                    "correct": correct, "per_labeler": per_labeler, "per_group": per_group,
                }
        for metric in (self.val_loss, self.val_margin, self.val_pairs, self.val_pairs_by_labeler, self.val_pairs_by_group):
            metric.reset()
        if self._table_rows and self.trainer.is_global_zero:
            log_table(self.logger, "val/pairs_table", TABLE_COLUMNS, self._table_rows, self.samples_dir)
        self._table_rows = []

    def configure_optimizers(self) -> Any:
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        return lightning_optimizers(trainable, self.make_optimizer, self.config.lr, self.make_scheduler,
                                    int(self.trainer.estimated_stepping_batches))
