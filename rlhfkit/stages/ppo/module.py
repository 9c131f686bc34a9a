"""Step 3, PPO and PPO-ptx (RLHF_DETAILS items 12-24, 34-40), as a LightningModule.

Glue only: the math is in :mod:`rlhfkit.algos` and the rollout in :mod:`rlhfkit.stages.ppo.rollout`.
Manual optimization (``automatic_optimization = False``), as Lightning advises for RL: one
``training_step`` is one PPO iteration:

1. take this rank's prompt batch (each prompt ``group_size`` times for critic-free estimators);
2. sample and score a rollout under no_grad (each rank its own, seeded seed + 1000 * rank,
   item 40); KL-shaped rewards with the controller's beta (item 15), advantages whitened over
   all ranks (item 19);
3. ``ppo_epochs`` passes over shuffled minibatches: policy loss + vf_coef * value loss
   (+ ptx_coef * LM loss of a pretraining minibatch for PPO-ptx, items 12-13: both gradients from
   one backward, so they accumulate per minibatch), gradient clipping, a step of each optimizer;
4. one LR-scheduler step (warm-up counts PPO iterations, item 14), then the KL controller sees
   the mean sequence KL of the global batch (item 16).

``iteration`` counts finished PPO iterations; the run stops after ``total_steps`` of them (the
trainer's global_step counts optimizer steps of every optimizer and is not used).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rlhfkit.algos import logprobs_from_logits, ppo_policy_loss, ppo_value_loss
from rlhfkit.algos.global_stats import global_explained_variance, global_masked_mean
from rlhfkit.algos.lm import masked_lm_loss
from rlhfkit.algos.ppo_objective import ppo_total_loss
from rlhfkit.errors import ConfigError, NonFiniteError
from rlhfkit.models.compile_scoring import compile_scoring
from rlhfkit.models.fast_kernels import apply_fast_kernels
from rlhfkit.models.generation import SamplingConfig, response_logits, response_values
from rlhfkit.models.hf import checkpointing_enabled, checkpointing_in_eval
from rlhfkit.models.lora import AdapterDisabledReference, is_lora, plain_body, policy_body_copy
from rlhfkit.models.samplers import AutoSampler
from rlhfkit.models.scalar_head import ScalarHeadModel
from rlhfkit.rewards.base import place_rewards
from rlhfkit.stages.finite_guard import check_finite, last_good_checkpoint
from rlhfkit.stages.ppo.config import PPOConfig, check_minibatch
from rlhfkit.stages.ppo.progress_bar import show_resumed_total
from rlhfkit.stages.ppo.rollout import Rollout, add_advantages, make_rollout, timed_phase
from rlhfkit.stages.ppo.streams import BatchStream, all_reduce_sum, encode_texts, gather_from_ranks, rng_states, set_rng_states
from rlhfkit.tracking import log_table

RANK_SEED_STRIDE = 1000  # item 40: sampling seed = seed + 1000 * global rank

log = logging.getLogger(__name__)


def one_optimizer_wanted(mode: str, strategy: Any) -> bool:
    """``stage.optimizer_mode``: "one", "two", or "auto" = one under DeepSpeed (Lightning's DeepSpeed
    strategy supports a single optimizer), two elsewhere."""
    if mode == "auto":
        return type(strategy).__name__.startswith("DeepSpeed")
    return mode == "one"


class PPOModule(pl.LightningModule):
    """PPO / PPO-ptx against any reward function.

    Args:
        policy: the causal LM to train (the SFT model); a frozen copy becomes the reference, or for a
            LoRA policy (``model.lora.r > 0``) the policy itself with its adapter disabled
            (:class:`rlhfkit.models.lora.AdapterDisabledReference`: the same base weights, no copy).
        tokenizer: shared by every model (item 38); pad distinct from EOS (item 35).
        reward_fn: ``(prompts, responses) -> (B,)`` scores (a ``reward`` plugin).
        kl_controller: ``.value``, ``.update(kl, n)``, ``state_dict`` (a ``kl_controller`` plugin).
        advantage_estimator: an ``advantage`` plugin; ``needs_critic`` False runs critic-free.
        make_optimizer: ``(params, lr) -> Optimizer``.
        make_scheduler: ``(optimizer, total_steps) -> LRScheduler`` (stepped once per iteration) or None.
        prompts: the PPO prompts (item 5).
        config: every setting of the stage (:class:`rlhfkit.stages.ppo.config.PPOConfig`).
        value_model: the critic (a ``ScalarHeadModel``), None for critic-free estimators; with
            ``config.shared_value_head`` it is a head on the policy's own body (LHP, item 24) and one
            optimizer trains both.
        pretrain_texts: PPO-ptx's pretraining data (needed when ``config.ptx_coef > 0``).
        kl_estimator: per-token KL estimator of the shaping ("k1", item 15; the ``kl.estimator`` key).
        group_size: samples per prompt (critic-free estimators; 1 otherwise).
        seed: base seed; rank r samples with seed + 1000 * r (item 40).
        run_dir: where tables, ``ppo_history.jsonl`` (one line of metrics per iteration) and
            ``checkpoints/`` go (None: nowhere).
        device_type: where the trainer will run the models ("cpu", "cuda"...; None: where their weights
            are now), for the ``auto`` speed-up switches (``config.fast_kernels``).
        reward_name: the reward plugin's name, for its errors (a non-finite score stops the run).
    """

    def __init__(
        self,
        policy: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        reward_fn: Callable[[list[str], list[str]], torch.Tensor],
        kl_controller: Any,
        advantage_estimator: Callable,
        make_optimizer: Callable[[Iterable, float], torch.optim.Optimizer],
        make_scheduler: Callable[[torch.optim.Optimizer, int], Any] | None,
        prompts: list[str],
        config: PPOConfig,
        value_model: ScalarHeadModel | None = None,
        pretrain_texts: list[str] | None = None,
        kl_estimator: str = "k1",
        group_size: int = 1,
        seed: int = 0,
        run_dir: str | None = None,
        device_type: str | None = None,
        reward_name: str = "reward",
        sampler: Any = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(dataclasses.asdict(config) | {"kl_estimator": kl_estimator, "group_size": group_size,
                                                                "seed": seed})  # plain values (weights_only loads)
        self.automatic_optimization = False
        self.config = config
        self.kl_estimator, self.group_size, self.seed = kl_estimator, group_size, seed
        self.run_dir = Path(run_dir) if run_dir else None
        check_minibatch(config, group_size)
        if config.ptx_coef > 0 and not pretrain_texts:
            raise ConfigError("stage.ptx_coef > 0 (PPO-ptx) needs pretraining data: set data.pretrain.train")
        if getattr(advantage_estimator, "needs_critic", True) and value_model is None:
            raise ValueError("this advantage estimator needs a value model")
        self.shared_value_head = bool(config.shared_value_head and value_model is not None)
        lora = is_lora(policy)
        if lora and self.shared_value_head:
            raise ConfigError("config key 'stage.shared_value_head': not with a LoRA policy (model.lora.r > 0): the "
                              "value head would sit on the adapted body; use a separate critic "
                              "(stage.shared_value_head=false)")
        if lora and value_model is not None and policy_body_copy(value_model.backbone):
            value_model.backbone = plain_body(value_model.backbone)  # a critic copied from the policy: full weights
        # same functions, faster kernels where they were measured to help; before the reference copy
        self.kernels = apply_fast_kernels(config.fast_kernels, policy, value_model, getattr(reward_fn, "model", None),
                                          device_type=device_type)
        self.policy = policy
        if lora:  # the same base weights with the adapter disabled: the SFT policy, no second copy (item 12)
            self.ref_policy = AdapterDisabledReference(policy)
        else:
            self.ref_policy = copy.deepcopy(policy).eval().requires_grad_(False)  # frozen SFT reference (item 12)
        # torch_compile: the policy's scoring wrapper in a plain dict (not a registered submodule: the
        # state dict keeps one copy of the policy), the reference, critic and reward model in place
        self.scoring = {"policy": policy}
        if self.kernels["torch_compile"]:
            self.scoring["policy"] = compile_scoring(policy, self.ref_policy, value_model,
                                                     getattr(reward_fn, "model", None))
        self.checkpointing = checkpointing_enabled(policy) or (value_model is not None
                                                              and checkpointing_enabled(value_model))
        self._checkpointing_logged = False
        self.value_model = value_model
        self.tokenizer = tokenizer
        self.reward_fn, self.reward_name = reward_fn, reward_name
        self.sampler = sampler if sampler is not None else AutoSampler()  # the generation backend (generation/)
        self.one_optimizer = False  # set by configure_optimizers (stage.optimizer_mode)
        self.kl_controller = kl_controller
        self.advantage_estimator = advantage_estimator
        self.make_optimizer, self.make_scheduler = make_optimizer, make_scheduler
        self.sampling = SamplingConfig(config.max_new_tokens, config.temperature, config.top_k, config.top_p)
        self.prompt_stream = BatchStream(prompts, config.rollout_batch_size, seed)
        self.ptx_stream = BatchStream(pretrain_texts, config.ptx_batch_size, seed) if config.ptx_coef > 0 else None
        self.iteration = 0  # finished PPO iterations = the prompt stream's position
        self.ptx_position = 0  # pretraining batches consumed (per rank)
        self.score_history: list[float] = []  # mean score of each iteration (first vs last in metrics.json)
        self._generator: torch.Generator | None = None
        self._pending_sampler_state: torch.Tensor | None = None
        # Optional phase timer (benchmarks/ppo_step.py sets one): ``timer.phase(name)`` contexts around
        # generate / policy_forward / ref_forward / value_forward / reward / advantages / ppo_epochs.
        self.timer = None

    # ------------------------------------------------------------------ set-up

    def setup(self, stage: str) -> None:
        self.prompt_stream.shard(self.global_rank, self.trainer.world_size)  # each rank its own prompts
        if self.ptx_stream is not None:
            self.ptx_stream.shard(self.global_rank, self.trainer.world_size)

    def on_fit_start(self) -> None:
        place_rewards(self.reward_fn, self.device)  # a reward model with device auto joins the policy's device

    def train_dataloader(self) -> BatchStream:
        """One Lightning epoch of ``total_steps`` batches, one per PPO iteration (so the progress bar
        shows iterations done / total, an ETA, the score and the KL), starting at the saved data
        position on a resume (Lightning restores the epoch's done batches, = ``iteration``)."""
        self.prompt_stream.start = self.iteration  # resume at the saved data position
        self.prompt_stream.stop = self.config.total_steps  # the stream ends where the run does
        return self.prompt_stream

    def configure_optimizers(self) -> Any:
        c = self.config
        policy_params = [p for p in self.policy.parameters() if p.requires_grad]  # a LoRA policy: its adapter
        if self.shared_value_head:
            policy_params += list(self.value_model.head.parameters())  # one optimizer over body and both heads
        separate_critic = self.value_model is not None and not self.shared_value_head
        value_params = [p for p in self.value_model.parameters() if p.requires_grad] if separate_critic else []
        self.one_optimizer = separate_critic and one_optimizer_wanted(c.optimizer_mode, self.trainer.strategy)
        if self.one_optimizer:
            # two parameter groups, each with its own LR; the schedule scales both, and _clip clips each
            # group by its own norm: the same update as two optimizers (tests/stages/test_ppo_one_optimizer.py)
            log.info("ppo: one optimizer for policy and value model, one parameter group each (stage.optimizer_mode=%s)",
                     c.optimizer_mode)
            optimizers = [self.make_optimizer([{"params": policy_params, "lr": c.lr},
                                               {"params": value_params, "lr": c.value_lr}], c.lr)]
        else:
            optimizers = [self.make_optimizer(policy_params, c.lr)]
            if separate_critic:
                optimizers.append(self.make_optimizer(value_params, c.value_lr))
        if self.make_scheduler is None:
            return optimizers
        return optimizers, [self.make_scheduler(opt, c.total_steps) for opt in optimizers]

    @property
    def generator(self) -> torch.Generator:
        """The sampling/shuffling random stream of this rank, on the model's device (item 40)."""
        if self._generator is None or self._generator.device != self.device:
            self._generator = torch.Generator(device=self.device)
            self._generator.manual_seed(self.seed + RANK_SEED_STRIDE * self.global_rank)
            if self._pending_sampler_state is not None:
                self._generator.set_state(self._pending_sampler_state)
                self._pending_sampler_state = None
        return self._generator

    def on_train_start(self) -> None:
        if self.iteration >= self.config.total_steps:
            self.trainer.should_stop = True  # resumed at or past total_steps: nothing to do
        elif self.iteration > 0:
            show_resumed_total(self.trainer, self.iteration, self.config.total_steps)  # not "n/?"

    # ------------------------------------------------------------------ one PPO iteration

    def training_step(self, batch: list[str], batch_idx: int) -> None:
        c = self.config
        start = time.perf_counter()
        for model in (self.policy, self.ref_policy, self.value_model):
            if model is not None:
                model.eval()  # item 23: no dropout, in sampling and in the updates
        prompts = [p for p in batch for _ in range(self.group_size)]  # G consecutive samples per prompt
        kl_coef = float(self.kl_controller.value)
        try:
            rollout = make_rollout(prompts, self.policy, self.ref_policy, self.value_model, self.reward_fn,
                                   self.tokenizer, self.sampling, c.max_prompt_length, self.generator,
                                   c.missing_eos_penalty, c.missing_eos_mode, timer=self.timer,
                                   reward_name=self.reward_name, lm_head_last_only=self.kernels["lm_head_last_only"],
                                   preallocated_kv_cache=self.kernels["preallocated_kv_cache"], sampler=self.sampler,
                                   scoring_policy=self.scoring["policy"], old_logprobs=c.old_logprobs)
        except NonFiniteError as err:  # a reward plugin's NaN/inf: the same stop as a NaN loss
            raise NonFiniteError(f"stage ppo: step {self.iteration + 1}: {err}; the run stopped there, nothing "
                                 f"non-finite was written (last good checkpoint: {last_good_checkpoint(self.run_dir)})"
                                 ) from None
        with timed_phase(self.timer, "advantages"):
            rollout = add_advantages(rollout, kl_coef, self.advantage_estimator, self.kl_estimator, c.whiten_rewards,
                                     c.whiten_advantages, all_reduce_sum)
        with timed_phase(self.timer, "ppo_epochs"):
            update = self._ppo_epochs(rollout)
        self.sampler.update_weights(self.policy)  # a backend with its own copy of the weights loads the new ones
        metrics = self._rollout_metrics(rollout, kl_coef) | update
        n_episodes = rollout.batch_size * self.trainer.world_size
        self.kl_controller.update(metrics["objective/kl"], n_episodes)  # item 16: global mean sequence KL, n episodes
        # the LRs this iteration used, then one scheduler step per PPO iteration (item 14: warm-up in iterations)
        opts = self._optimizers()  # one optimizer: its groups are policy, value; else each optimizer's first
        groups = opts[0].param_groups if self.one_optimizer else [o.param_groups[0] for o in opts]
        metrics |= {f"ppo/lr/{name}": group["lr"] for name, group in zip(("policy", "value"), groups)}
        for scheduler in self._schedulers():
            scheduler.step()
        self.iteration += 1
        n_tokens = all_reduce_sum(rollout.response_mask.sum().float())
        elapsed = time.perf_counter() - start
        metrics |= {"ppo/iteration": float(self.iteration), "perf/iteration_s": elapsed,
                    "perf/tokens_per_s": float(n_tokens) / elapsed}
        self.score_history.append(metrics["objective/score"])
        shown = ("objective/score", "objective/kl")  # values are already global: no sync_dist needed
        self.log_dict({k: v for k, v in metrics.items() if k not in shown}, on_step=True, on_epoch=False,
                      batch_size=rollout.batch_size)
        self.log_dict({k: metrics[k] for k in shown}, on_step=True, on_epoch=False, prog_bar=True,
                      batch_size=rollout.batch_size)
        self._write_history(metrics)
        self._log_samples(rollout)
        if self.iteration >= c.total_steps:
            self.trainer.should_stop = True

    def _optimizers(self) -> list:
        opts = self.optimizers()
        return list(opts) if isinstance(opts, (list, tuple)) else [opts]

    def _schedulers(self) -> list:
        scheds = self.lr_schedulers()
        if scheds is None:
            return []
        return list(scheds) if isinstance(scheds, (list, tuple)) else [scheds]

    def _ppo_epochs(self, rollout: Rollout) -> dict[str, float]:
        """``ppo_epochs`` shuffled passes of minibatches; returns the per-minibatch means over all ranks."""
        c = self.config
        per_minibatch: list[dict[str, torch.Tensor]] = []
        for _ in range(c.ppo_epochs):
            order = torch.randperm(rollout.batch_size, generator=self.generator, device=self.device)  # (B,)
            for first in range(0, rollout.batch_size, c.minibatch_size):
                per_minibatch.append(self._minibatch_step(rollout.select(order[first:first + c.minibatch_size])))
        names = list(per_minibatch[0])
        local = torch.stack([torch.stack([s[k] for s in per_minibatch]).mean() for k in names])  # (n_stats,)
        world = all_reduce_sum(local) / self.trainer.world_size  # equal minibatch counts on every rank
        return {k: float(v) for k, v in zip(names, world)}

    def _minibatch_step(self, mb: Rollout) -> dict[str, torch.Tensor]:
        """One optimizer step of every optimizer on one minibatch (items 13, 20); with
        ``model.gradient_checkpointing`` the checkpointed layers recompute in the backward although
        the models are in eval mode (item 23: no dropout), see :func:`checkpointing_in_eval`."""
        if not self.checkpointing:
            return self._minibatch_update(mb)
        with contextlib.ExitStack() as stack:
            flagged = sum(stack.enter_context(checkpointing_in_eval(model))
                          for model in (self.policy, None if self.shared_value_head else self.value_model)
                          if model is not None)
            if not self._checkpointing_logged:
                self._checkpointing_logged = True
                if flagged:
                    log.info("model.gradient_checkpointing: %d layers recompute their activations in the PPO "
                             "updates (models in eval mode, no dropout: item 23)", flagged)
                else:
                    log.warning("model.gradient_checkpointing: no layer can checkpoint in eval mode for this "
                                "architecture (its layers apply dropout themselves); PPO updates run without it")
            return self._minibatch_update(mb)

    def _minibatch_update(self, mb: Rollout) -> dict[str, torch.Tensor]:
        c = self.config
        input_ids, attention_mask, p = mb.input_ids, mb.attention_mask, mb.prompt_length
        logits = response_logits(self.scoring["policy"], input_ids, attention_mask, p,
                                 self.kernels["lm_head_last_only"])  # (b, R, V)
        logprobs = logprobs_from_logits(logits, mb.response_ids, c.temperature)  # (b, R) item 22
        pg_loss, pg_stats = ppo_policy_loss(logprobs, mb.logprobs, mb.advantages, mb.response_mask, c.clip_range)
        stats = {"ppo/policy/loss": pg_loss.detach(), "ppo/policy/clipfrac": pg_stats["clip_fraction"],
                 "ppo/policy/approxkl": pg_stats["approx_kl"]}
        vf_loss = None
        if self.value_model is not None and mb.returns is not None:
            vpred = response_values(self.value_model, input_ids, attention_mask, p)  # (b, R)
            vf_loss, vf_stats = ppo_value_loss(vpred, mb.values, mb.returns, mb.response_mask, c.value_clip_range)
            stats |= {"ppo/val/loss": vf_loss.detach(), "ppo/val/clipfrac": vf_stats["clip_fraction"]}
        ptx_loss = None
        if self.ptx_stream is not None:
            texts = self.ptx_stream.batch(self.ptx_position)
            self.ptx_position += 1
            ids, mask = encode_texts(self.tokenizer, texts, c.ptx_max_length, self.device)  # (n, L)
            ptx_logits = self.scoring["policy"](input_ids=ids, attention_mask=mask).logits  # (n, L, V) right-padded
            ptx_loss, _ = masked_lm_loss(ptx_logits, ids, mask)  # () item 12: -log pi(x) per token
            stats["ppo/ptx_loss"] = ptx_loss.detach()
        loss = ppo_total_loss(pg_loss, vf_loss, c.vf_coef, ptx_loss, c.ptx_coef)  # items 12, 13, 20
        check_finite(loss, "ppo", self.iteration + 1, "PPO loss", self.run_dir)  # iteration being computed
        stats["ppo/loss/total"] = loss.detach()
        optimizers = self._optimizers()
        for opt in optimizers:
            opt.zero_grad()
        self.manual_backward(loss)  # item 13: PPO and pretraining gradients accumulate in one backward
        for opt in optimizers:
            if c.grad_clip:
                self._clip(opt, c.grad_clip)
            opt.step()
        return stats

    def _clip(self, optimizer, max_norm: float) -> None:
        """Gradient clipping per optimizer (Lightning's, mixed precision's unscaling included) or, with
        one optimizer for policy and critic, per parameter group: each by its own norm, as with two."""
        if not self.one_optimizer:
            self.clip_gradients(optimizer, gradient_clip_val=max_norm, gradient_clip_algorithm="norm")
            return
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        if scaler is not None:  # 16-mixed: unscale before measuring the norm (the step then skips unscaling)
            scaler.unscale_(optimizer)
        for group in optimizer.param_groups:
            torch.nn.utils.clip_grad_norm_(group["params"], max_norm)

    @torch.no_grad()
    def _rollout_metrics(self, r: Rollout, kl_coef: float) -> dict[str, float]:
        """Issue item 5's numbers, over all ranks."""
        ones = torch.ones_like(r.scores, dtype=torch.bool)

        def mean(x: torch.Tensor, mask: torch.Tensor | None = None) -> float:
            return float(global_masked_mean(x.float(), ones if mask is None else mask, all_reduce_sum))

        metrics = {
            "objective/score": mean(r.raw_scores),  # the reward plugin's score (a bias-normalised RM's, item 9)
            "objective/score_penalised": mean(r.scores),  # after the missing-EOS penalty (item 21)
            "objective/kl": mean(r.sequence_kl),  # item 15: batch mean of the sequence KL
            "objective/kl_coef": kl_coef,
            "objective/rlhf_reward": mean(r.rewards.sum(dim=1)),  # score - beta * KL (IG eq. 2)
            "objective/entropy": mean(r.entropy, r.response_mask),  # nats per response token
            "ppo/response_length": mean(r.response_mask.sum(dim=1)),
            "ppo/frac_no_eos": mean((~r.has_eos).float()),
        }
        normalisation = rm_normalisation(self.reward_fn)
        if normalisation is not None:
            gain, offset = normalisation
            metrics["objective/score_unnormalised"] = (metrics["objective/score"] - offset) / gain  # undo item 9
        if r.values is not None and r.returns is not None:
            metrics["ppo/val/explained_variance"] = float(
                global_explained_variance(r.values, r.returns, r.response_mask, all_reduce_sum))
            metrics["ppo/val/mean"] = mean(r.values, r.response_mask)
            metrics["ppo/returns/mean"] = mean(r.returns, r.response_mask)
        return metrics

    def _write_history(self, metrics: dict[str, float]) -> None:
        if self.trainer.is_global_zero and self.run_dir is not None:
            with (self.run_dir / "ppo_history.jsonl").open("a") as f:
                f.write(json.dumps(metrics) + "\n")

    def _truncate_history(self, iterations: int) -> None:
        """A run resumed in its own directory keeps one history line per iteration: the lines a killed
        run wrote after its checkpoint are dropped (they are computed again)."""
        path = self.run_dir / "ppo_history.jsonl" if self.run_dir is not None else None
        if path is None or not path.exists() or self.global_rank != 0:
            return
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line).get("ppo/iteration", 0) <= iterations]
        path.write_text("".join(line + "\n" for line in kept))

    def _log_samples(self, r: Rollout) -> None:
        every = self.config.sample_table_every
        if not every or (self.iteration - 1) % every or not self.trainer.is_global_zero:
            return
        n = min(self.config.n_sample_rows, r.batch_size)
        rows = [[self.iteration, r.prompts[i], r.responses[i], float(r.scores[i]), float(r.sequence_kl[i])] for i in range(n)]
        log_table(self.logger, "samples", ["iteration", "prompt", "response", "score", "kl"], rows, str(self.run_dir) if self.run_dir else None)

    # ------------------------------------------------------------------ checkpoints

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """``iterNNNNNN.ckpt`` every ``checkpoint_every`` iterations (kept) and ``last.ckpt`` every
        ``last_checkpoint_every`` and after the last iteration (the one resume recipe of every
        stage: ``ckpt_path=<run>/checkpoints/last.ckpt``). All ranks call save (a collective)."""
        if self.run_dir is None:
            return
        c, done = self.config, self.iteration >= self.config.total_steps
        if c.checkpoint_every and self.iteration % c.checkpoint_every == 0:
            self.trainer.save_checkpoint(self.run_dir / "checkpoints" / f"iter{self.iteration:06d}.ckpt")
        if c.last_checkpoint_every and (self.iteration % c.last_checkpoint_every == 0 or done):
            self.trainer.save_checkpoint(self.run_dir / "checkpoints" / "last.ckpt")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Policy, value, optimizers and schedulers are Lightning's; add what PPO needs to resume."""
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("ref_policy.")]:
            del state[key]  # the reference is the initial policy: rebuilt from the config, not stored
        checkpoint["ppo"] = {
            "iteration": self.iteration,  # = the data position of the prompt stream
            "ptx_position": self.ptx_position,
            "kl_controller": self.kl_controller.state_dict(),
            "score_history": list(self.score_history),
            "rng_per_rank": gather_from_ranks(rng_states(self._generator)),  # collective: every rank saves
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["ppo"]
        self.iteration, self.ptx_position = int(state["iteration"]), int(state["ptx_position"])
        self.kl_controller.load_state_dict(state["kl_controller"])
        self.score_history = list(state["score_history"])
        self._truncate_history(self.iteration)
        per_rank = state["rng_per_rank"]
        if self.global_rank < len(per_rank):  # same world size: exact continuation of each rank's streams
            self._pending_sampler_state = set_rng_states(per_rank[self.global_rank])
            self._generator = None
        checkpoint["state_dict"].update({f"ref_policy.{k}": v for k, v in self.ref_policy.state_dict().items()})


def rm_normalisation(reward_fn: Any) -> tuple[float, float] | None:
    """(gain, offset) of a bias-normalised reward model plugin (item 9), else None."""
    model = getattr(reward_fn, "model", None)
    if getattr(reward_fn, "normalise", False) and isinstance(model, ScalarHeadModel):
        return float(model.gain), float(model.offset)
    return None
