"""The plugin contract: one hook per kind of swappable part.

Every hook returns ``{name: factory}``. The manager merges the dictionaries of all plugins and
refuses a name that two plugins provide. Factories are called with the keyword arguments of the
config group that names them (``name`` removed), so ``kl: {name: adaptive, target: 6.0}`` calls
``factory(target=6.0)``. The built-in plugins (``plugins/rlhfkit_builtins``) implement these hooks
through the same ``rlhfkit`` entry-point group a third-party package uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlhfkit.plugins.markers import hookspec


@hookspec
def rlhfkit_models() -> dict[str, Callable[..., Any]]:
    """Causal language models by name.

    ``factory(**config) -> rlhfkit.models.ModelBundle`` (a ``transformers`` causal LM and its
    tokenizer). Value and reward models are a backbone of such a model plus a scalar head
    (:class:`rlhfkit.models.ScalarHeadModel`), so every model plugin can back all three roles.
    """


@hookspec
def rlhfkit_datasets() -> dict[str, Callable[..., Any]]:
    """Data sources by name.

    ``factory(kind, split, **config) -> list[example]`` where ``kind`` is one of "sft" (prompt and
    completion), "text" (pretraining text), "preference" (rankings of K completions) or "prompt"
    (prompts for PPO), and examples are the dataclasses of :mod:`rlhfkit.data`. A
    :class:`rlhfkit.data.formats.LoadedExamples` (a list with the ``LoadReport`` of what was read,
    skipped and why) puts those counts in the stage's metrics.json; a plain list is fine too. A
    factory with a parameter named ``tokenizer`` gets the stage's tokenizer (conversational data is
    then rendered with its chat template, ``data.chat_template``).
    """


@hookspec
def rlhfkit_reward_functions() -> dict[str, Callable[..., Any]]:
    """Reward functions by name.

    ``factory(**config) -> RewardFn`` with ``RewardFn(prompts: list[str], completions: list[str])
    -> Tensor`` of shape (B,), one score per completion.
    """


@hookspec
def rlhfkit_kl_controllers() -> dict[str, Callable[..., Any]]:
    """KL-coefficient controllers by name.

    ``factory(**config) -> KLController`` with ``.value: float``,
    ``.update(current_kl: float, n_steps: int)``, ``state_dict()`` and ``load_state_dict()``.
    """


@hookspec
def rlhfkit_optimizers() -> dict[str, Callable[..., Any]]:
    """Optimizers by name. ``factory(params, **config) -> torch.optim.Optimizer``."""


@hookspec
def rlhfkit_lr_schedulers() -> dict[str, Callable[..., Any]]:
    """Learning-rate schedules by name.

    ``factory(optimizer, total_steps: int, **config) -> torch.optim.lr_scheduler.LRScheduler``,
    stepped once per optimizer step.
    """


@hookspec
def rlhfkit_advantage_estimators() -> dict[str, Callable[..., Any]]:
    """Advantage estimators by name.

    ``factory(**config) -> AdvantageEstimator`` with ``needs_critic: bool`` and
    ``__call__(rewards (B, T), values (B, T) | None, mask (B, T), scores (B,)) -> (advantages
    (B, T), returns (B, T) | None)``.
    """


@hookspec
def rlhfkit_data_filters() -> dict[str, Callable[..., Any]]:
    """Data hygiene steps by name (PII scrubbing, de-duplication, per-user caps).

    ``factory(**config) -> DataFilter`` with ``__call__(examples) -> (examples, report: dict)``;
    the report says how many examples were changed or dropped and why, so nothing is lost silently.
    """


@hookspec
def rlhfkit_samplers() -> dict[str, Callable[..., Any]]:
    """Generation backends of the PPO rollout by name (the ``generation`` config group).

    ``factory(**config) -> Sampler`` with ``sample(policy, prompt_ids (B, P), prompt_mask (B, P),
    sampling: rlhfkit.models.generation.SamplingConfig, eos_id: int, generator, **hints) ->
    (tokens (B, R), logprobs (B, R))`` (left-padded prompts; raw sampled tokens, each with its
    log-probability under the distribution it was drawn from; ``hints`` are speed switches it may
    ignore) and ``update_weights(policy)``, called after each PPO iteration's updates (a backend
    with its own copy of the weights, e.g. vLLM, loads the new ones). :mod:`rlhfkit.models.samplers`.
    """
