"""LoRA adapters through ``peft`` (``model.lora.*`` of ``model=hf``).

* :func:`apply_lora`: wraps a causal LM in a ``PeftModelForCausalLM``; only the adapter trains
  (the base weights are frozen), and the trainable/total parameter counts are logged;
* :class:`AdapterDisabledReference`: PPO's frozen reference for a LoRA policy is the policy itself
  with its adapter disabled (``with model.disable_adapter():``), the SFT weights (item 12) without a
  second copy of them;
* :func:`save_lora`: the export, ``final/`` the merged model (``AutoModelForCausalLM.from_pretrained``
  loads it, no peft needed) and ``adapter/`` the adapter alone (``PeftModel.from_pretrained``);
* :func:`apply_lora_to_body`: LoRA on the body of a reward or value model (the RM stage with
  ``model.lora``, PPO's critic on the RM body); its scalar head trains in full, and
  :func:`merged_copy` is what such a model exports (a plain body, no peft needed).

peft is imported on first use: a run without LoRA never imports it.
"""

from __future__ import annotations

import copy
import logging
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rlhfkit.errors import ConfigError

log = logging.getLogger(__name__)

ALL_LINEAR = "all-linear"  # peft: every linear layer of the body (the LM head excluded)
KEY = "model.lora"


@dataclass(frozen=True)
class LoraOptions:
    """``model.lora``: ``r`` the rank (0 = no adapter), ``alpha`` the scale numerator (the update is
    ``alpha / r * B A``), ``dropout`` on the adapter's input (training only), ``target_modules``
    ``"all-linear"`` or a list of module names (e.g. ``[q_proj, v_proj]``)."""

    r: int = 0
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: str | tuple[str, ...] = ALL_LINEAR


def lora_options(spec: Mapping[str, Any] | None) -> LoraOptions | None:
    """``model.lora`` checked (unknown keys, ranges); None when it is off (absent or ``r`` 0)."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"config key '{KEY}': expected a mapping with r, alpha, dropout, target_modules; got {spec!r}")
    known = [f.name for f in fields(LoraOptions)]
    unknown = sorted(set(spec) - set(known))
    if unknown:
        raise ConfigError(f"config key '{KEY}.{unknown[0]}': not a LoRA option; options: {', '.join(known)}")
    values = {k: v for k, v in spec.items() if v is not None}
    try:
        r = int(values.get("r", 0))
        alpha = float(values.get("alpha", LoraOptions.alpha))
        dropout = float(values.get("dropout", LoraOptions.dropout))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"config key '{KEY}': {err}") from None
    if r < 0:
        raise ConfigError(f"config key '{KEY}.r': {r} is negative (0 = off)")
    if r == 0:
        return None
    if alpha <= 0:
        raise ConfigError(f"config key '{KEY}.alpha': {alpha} must be > 0")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"config key '{KEY}.dropout': {dropout} is not a probability in [0, 1)")
    targets = values.get("target_modules", ALL_LINEAR)
    if isinstance(targets, str):
        targets = targets.strip()
    elif isinstance(targets, (list, tuple)) and targets and all(isinstance(t, str) for t in targets):
        targets = tuple(targets)
    else:
        raise ConfigError(f"config key '{KEY}.target_modules': expected '{ALL_LINEAR}' or a list of module names, "
                          f"got {targets!r}")
    return LoraOptions(r=r, alpha=alpha, dropout=dropout, target_modules=targets)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, each tensor once (tied weights are not counted twice)."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def log_parameter_counts(model: nn.Module, what: str = "model") -> tuple[int, int]:
    trainable, total = parameter_counts(model)
    log.info("%s: %s trainable of %s parameters (%.2f%%)", what, f"{trainable:,}", f"{total:,}",
             100.0 * trainable / max(1, total))
    return trainable, total


def apply_lora(model: nn.Module, options: LoraOptions) -> nn.Module:
    """``model`` wrapped in a ``PeftModelForCausalLM`` with a fresh LoRA adapter (B = 0: the wrapped
    model computes exactly what ``model`` did); the base weights are frozen."""
    from peft import get_peft_model

    with _injecting():
        wrapped = get_peft_model(model, _peft_config(options, "CAUSAL_LM"))
    log_parameter_counts(wrapped, f"LoRA r={options.r} alpha={options.alpha:g} targets={options.target_modules}")
    return wrapped


@contextmanager
def _injecting() -> Iterator[None]:
    """Around peft's adapter injection: its known warnings quiet, its ValueError for target modules
    the model does not have as one line naming the key."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*fan_in_fan_out.*")  # GPT-2's Conv1D: peft sets it itself
        warnings.filterwarnings("ignore", category=FutureWarning)  # peft reading deprecated transformers flags
        try:
            yield
        except ValueError as err:  # target modules not found in the model ...
            raise ConfigError(f"config key '{KEY}.target_modules': {str(err).strip().splitlines()[0]}") from None


def _peft_config(options: LoraOptions, task_type: str | None):
    from peft import LoraConfig

    targets = options.target_modules
    return LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                      target_modules=list(targets) if isinstance(targets, tuple) else targets, task_type=task_type)


def apply_lora_to_body(body: nn.Module, options: LoraOptions, what: str = "body") -> nn.Module:
    """Fresh LoRA layers (B = 0) injected in place into a transformers body (an ``AutoModel``: no LM
    head, hidden states out), its own weights frozen; returns ``body``. The body stays a plain
    module, so a :class:`~rlhfkit.models.scalar_head.ScalarHeadModel` calls it as before."""
    from peft import inject_adapter_in_model

    with _injecting():
        inject_adapter_in_model(_peft_config(options, None), body)
    for name, p in body.named_parameters():
        p.requires_grad_(".lora_" in name)
    log_parameter_counts(body, f"LoRA r={options.r} alpha={options.alpha:g} on the {what}")
    return body


def merged_copy(module: nn.Module) -> nn.Module:
    """``module`` with every LoRA layer merged into its base layer and replaced by it, as a copy
    (``module`` is unchanged); ``module`` itself when it has no adapter layers."""
    if not has_adapter_layers(module):
        return module
    from peft.tuners.tuners_utils import BaseTunerLayer

    out = copy.deepcopy(module)
    for name, layer in list(out.named_modules()):
        if isinstance(layer, BaseTunerLayer):
            if not getattr(layer, "merged", False):
                layer.merge()
            parent, _, child = name.rpartition(".")
            setattr(out.get_submodule(parent) if parent else out, child, layer.get_base_layer())
    return out


def is_lora(model: Any) -> bool:
    """Whether ``model`` is a peft model (an adapter on a frozen base). peft is not imported for
    this: a model can only be one when peft was."""
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(model, peft.PeftModel)


def has_adapter_layers(model: Any) -> bool:
    """Whether some submodule of ``model`` is a peft adapter layer (a peft model, a peft tuner, or a
    body copied out of one)."""
    if sys.modules.get("peft") is None or not isinstance(model, nn.Module):
        return False
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(isinstance(m, BaseTunerLayer) for m in model.modules())


def base_model_of(model: nn.Module) -> nn.Module:
    """The transformers model under a peft wrapper (its LoRA layers in place), else ``model``."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


class AdapterDisabledReference:
    """PPO's frozen reference policy when the policy is a LoRA model: a call runs the policy with its
    adapter disabled, i.e. the base (SFT) weights the adapter was put on, with no second copy of
    them. Not an ``nn.Module``: it owns no weights, adds nothing to checkpoints, and putting it in
    eval/train mode leaves the policy's mode alone (PPO runs the policy in eval mode, item 23)."""

    def __init__(self, policy: nn.Module) -> None:
        if not hasattr(policy, "disable_adapter"):
            raise TypeError(f"AdapterDisabledReference needs a peft model, got {type(policy).__name__}")
        self.policy = policy

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.policy.disable_adapter():
            return self.policy(*args, **kwargs)

    forward = __call__

    def eval(self) -> AdapterDisabledReference:
        return self

    def train(self, mode: bool = True) -> AdapterDisabledReference:
        return self

    def requires_grad_(self, requires_grad: bool = True) -> AdapterDisabledReference:
        return self

    @property
    def training(self) -> bool:
        return False

    @property
    def config(self) -> Any:
        return self.policy.config

    def parameters(self, recurse: bool = True):
        return self.policy.parameters(recurse)

    def get_base_model(self) -> nn.Module:
        return base_model_of(self.policy)

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        return {}  # the policy's weights are saved as the policy's


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of the base model with every active adapter merged into its weights
    (W + alpha / r * B A) under the base model's own key names, computed without changing ``model``
    (no in-place merge and unmerge, which would round the base weights)."""
    from peft.tuners.lora import LoraLayer

    base = base_model_of(model)
    layers = {name: m for name, m in base.named_modules() if isinstance(m, LoraLayer)}
    state: dict[str, torch.Tensor] = {}
    for key, value in base.state_dict().items():
        if ".lora_" in key:
            continue
        state[key.replace(".base_layer.", ".")] = value
    with torch.no_grad():
        for name, layer in layers.items():
            if getattr(layer, "merged", False):
                continue  # already merged in place: the base weight holds the sum
            key = f"{name}.weight"
            for adapter in layer.active_adapters:
                if adapter in getattr(layer, "lora_A", {}) or adapter in getattr(layer, "lora_embedding_A", {}):
                    delta = layer.get_delta_weight(adapter)
                    state[key] = (state[key] + delta.to(state[key].dtype)).contiguous()
    return state


def save_lora(model: nn.Module, final_dir: str | Path, adapter_dir: str | Path, tokenizer: Any = None) -> None:
    """``final_dir``: the merged model (safetensors + config, loads without peft); ``adapter_dir``: the
    adapter alone (``adapter_config.json`` + ``adapter_model.safetensors``) and the tokenizer."""
    final_dir, adapter_dir = Path(final_dir), Path(adapter_dir)
    final_dir.mkdir(parents=True, exist_ok=True)
    adapter_dir.mkdir(parents=True, exist_ok=True)
    base = base_model_of(model)
    base.save_pretrained(final_dir, state_dict=merged_state_dict(model), safe_serialization=True)
    model.save_pretrained(adapter_dir, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(adapter_dir)  # a pad token added at load time resized the embeddings
    log.info("LoRA export: merged model in %s, adapter in %s", final_dir, adapter_dir)


def policy_body_copy(backbone: Any) -> bool:
    """Whether ``backbone`` is what copying a LoRA policy's ``base_model`` gives: peft's tuner around
    the whole causal LM (a critic put on a copy of the policy, ``stage.value_init=policy``); its
    forward returns LM logits, not hidden states."""
    peft = sys.modules.get("peft")
    if peft is None:
        return False
    from peft.tuners.tuners_utils import BaseTuner

    inner = getattr(backbone, "model", None)
    return isinstance(backbone, BaseTuner) and callable(getattr(inner, "get_output_embeddings", None)) \
        and inner.get_output_embeddings() is not None


def plain_body(backbone: nn.Module) -> nn.Module:
    """A critic's body copied from a LoRA policy (:func:`policy_body_copy`) as the plain transformers
    body, the adapter merged and every weight trainable again: the critic is trained in full, as
    without LoRA. Any other body (an RM's, adapted or not) is returned as it is."""
    if not policy_body_copy(backbone):
        return backbone
    body = backbone.merge_and_unload()  # the causal LM, LoRA layers replaced by merged linears
    body = getattr(body, "base_model", body)  # its body, as ScalarHeadModel expects
    return body.requires_grad_(True)
