"""Step 1, supervised fine-tuning (RLHF_DETAILS items 1-5), as a LightningModule.

Glue only: the loss is :func:`rlhfkit.algos.lm.masked_lm_loss`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torchmetrics import MeanMetric
from torchmetrics.text import Perplexity
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rlhfkit.algos.lm import masked_lm_loss
from rlhfkit.models.generation import greedy_samples
from rlhfkit.optimizers import lightning_optimizers
from rlhfkit.stages.sft.config import SFTConfig
from rlhfkit.tracking import log_table


class SFTModule(pl.LightningModule):
    """Fine-tunes a causal LM on (prompt, completion) demonstrations.

    Args:
        model: the causal LM (trained in place).
        tokenizer: its tokenizer (pad distinct from EOS).
        config: the stage's settings (:class:`rlhfkit.stages.sft.config.SFTConfig`): ``lr``,
            ``mask_prompt`` (item 4), ``max_new_tokens`` and ``sample_every_n_epochs`` are read here.
        make_optimizer: ``(params, lr) -> Optimizer`` (the ``optim`` plugin with its options bound).
        make_scheduler: ``(optimizer, total_steps) -> LRScheduler`` or None for a constant LR.
        sample_prompts: validation prompts whose greedy completions are logged as a table.
        samples_dir: where that table goes as JSONL when W&B is off.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        config: SFTConfig,
        make_optimizer: Callable[..., torch.optim.Optimizer],
        make_scheduler: Callable[[torch.optim.Optimizer, int], Any] | None = None,
        sample_prompts: list[str] | None = None,
        samples_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(dataclasses.asdict(config))  # plain values: checkpoints load with weights_only
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.make_optimizer = make_optimizer
        self.make_scheduler = make_scheduler
        self.sample_prompts = list(sample_prompts or [])
        self.samples_dir = samples_dir
        self.val_loss = MeanMetric()
        self.val_perplexity = Perplexity(ignore_index=-100)

    def on_fit_start(self) -> None:
        """Train mode for the model before anything runs (item 1: dropout as configured, ``model.dropout``):
        ``from_pretrained`` returns a model in eval mode and Lightning (2.x) keeps whatever mode a
        module is in at the start of fit; after each validation it restores this one."""
        self.model.train()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)

    def _loss_mask(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["completion_mask"] if self.config.mask_prompt else batch["attention_mask"]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"])
        loss, n_tokens = masked_lm_loss(logits, batch["input_ids"], self._loss_mask(batch))
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        self.log("train/tokens", n_tokens, reduce_fx="sum", batch_size=batch["input_ids"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch["input_ids"], batch["attention_mask"])
        loss, n_tokens = masked_lm_loss(logits, batch["input_ids"], self._loss_mask(batch))
        self.val_loss.update(loss, weight=n_tokens)
        targets = batch["input_ids"][:, 1:].masked_fill(self._loss_mask(batch)[:, 1:] == 0, -100)
        self.val_perplexity.update(logits[:, :-1].float(), targets)

    def on_validation_epoch_end(self) -> None:
        self.log("val/loss", self.val_loss.compute(), prog_bar=True, sync_dist=True)
        self.log("val/perplexity", self.val_perplexity.compute(), sync_dist=True)
        self.val_loss.reset()
        self.val_perplexity.reset()
        if self.sample_prompts and self.trainer.is_global_zero and not self.trainer.sanity_checking:
            if self.current_epoch % self.config.sample_every_n_epochs == 0:
                completions = greedy_samples(self.model, self.tokenizer, self.sample_prompts, self.config.max_new_tokens)
                rows = [[self.current_epoch, p, c] for p, c in zip(self.sample_prompts, completions)]
                log_table(self.logger, "val/samples", ["epoch", "prompt", "completion"], rows, self.samples_dir)

    def configure_optimizers(self) -> Any:
        trainable = [p for p in self.model.parameters() if p.requires_grad]  # a LoRA model: its adapter only
        return lightning_optimizers(trainable, self.make_optimizer, self.config.lr, self.make_scheduler,
                                    int(self.trainer.estimated_stepping_batches))
