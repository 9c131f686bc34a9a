"""Switch off the stage's speed-ups one by one (``--ablate``), to measure each one's before/after.

Each name is a switch of ``stage.fast_kernels`` (:class:`rlhfkit.stages.ppo.config.FastKernelsConfig`,
:mod:`rlhfkit.models.fast_kernels`); the benchmark builds the stage with that switch off, exactly as
a user would with ``stage.fast_kernels.<name>=false``:

    preallocated_kv_cache  transformers' growing DynamicCache (a concatenation per token and layer)
    lm_head_last_only      the LM head on every position of every scoring pass (policy, reference, PPO epochs)
    fused_gelu             GPT-2's NewGELUActivation (8 elementwise ops) instead of the fused GELU
    onednn_linear          PyTorch's default fp32 GEMM (MKL) instead of oneDNN
    all                    all of the above
"""

from __future__ import annotations

from rlhfkit.models.fast_kernels import OFF_BY_DEFAULT, SWITCHES

NAMES = tuple(name for name in SWITCHES if name not in OFF_BY_DEFAULT)  # torch_compile: --compile turns it on


def switches_off(names: list[str]) -> dict[str, bool]:
    """The ``stage.fast_kernels`` overrides that turn the named speed-ups off."""
    names = list(NAMES) if "all" in names else list(names)
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown ablation(s) {sorted(unknown)}; known: {', '.join(NAMES)}, all")
    return {name: False for name in names}
