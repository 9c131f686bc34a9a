"""Any ``AutoModelForCausalLM`` and its tokenizer, from a hub id or a local directory.

The options of ``model=hf`` (conf/model/hf.yaml documents each with its default) are the keyword
arguments of :func:`load_hf`: the weights' dtype, the attention kernel, gradient checkpointing,
dropout (item 1: on in SFT/RM training; PPO runs every model in eval mode, item 23) and a LoRA
adapter (:mod:`rlhfkit.models.lora`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from rlhfkit.errors import ConfigError
from rlhfkit.models.bundle import ModelBundle, checkpointing_enabled  # noqa: F401 (re-exported: stages import it from here)
from rlhfkit.models.hub_source import model_source
from rlhfkit.models.lora import apply_lora, log_parameter_counts, lora_options

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}
# config fields named like dropout that belong to heads a causal LM does not have
_HEAD_DROPOUT_PREFIXES = ("classifier", "summary")


def dropout_fields(config: Any) -> list[str]:
    """The dropout probabilities of a model config, found by name: every numeric field whose name
    contains ``dropout`` or ends in ``pdrop`` (GPT-2's ``resid_pdrop``/``embd_pdrop``/``attn_pdrop``,
    Llama's ``attention_dropout``, GPT-NeoX's ``hidden_dropout``, OPT's ``dropout`` ...), except the
    fields of classification/summary heads. ``layerdrop`` (skipping whole layers) is not dropout."""
    names = []
    for key, value in config.to_dict().items():
        lowered = key.lower()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if ("dropout" in lowered or lowered.endswith("pdrop")) and not lowered.startswith(_HEAD_DROPOUT_PREFIXES):
            names.append(key)
    return sorted(names)


def set_dropout(config: Any, p: float) -> list[str]:
    """Set every :func:`dropout_fields` field of ``config`` to ``p``; the names set."""
    if not 0.0 <= float(p) < 1.0:
        raise ConfigError(f"config key 'model.dropout': {p} is not a probability in [0, 1)")
    names = dropout_fields(config)
    for name in names:
        setattr(config, name, float(p))
    if names:
        log.info("model.dropout=%s: set %s", p, ", ".join(names))
    else:
        log.warning("model.dropout=%s: the %s config has no dropout field; nothing was set", p,
                    getattr(config, "model_type", "model"))
    return names


def enable_gradient_checkpointing(model: nn.Module) -> None:
    """Activation (gradient) checkpointing through the transformers API, non-reentrant (works with
    frozen embeddings, i.e. LoRA), and ``use_cache`` off in the config: training forwards keep no KV
    cache (the samplers ask for one explicitly)."""
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise ConfigError(f"config key 'model.gradient_checkpointing': {type(model).__name__} does not support "
                          "gradient checkpointing")
    kwargs = {"use_reentrant": False}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.config.use_cache = False


@functools.lru_cache(maxsize=None)
def _reads_own_training_flag(layer_class: type) -> bool:
    """Whether a layer's own ``forward`` reads ``self.training`` or applies dropout itself (OPT's
    decoder layer does): such a layer cannot be flagged as training without turning dropout on."""
    forward = getattr(layer_class.forward, "__wrapped__", layer_class.forward)
    try:
        source = inspect.getsource(forward)
    except (OSError, TypeError):
        return True
    return "self.training" in source or "dropout" in source


try:  # transformers >= 4.52: the repeated blocks checkpoint themselves when flagged as training
    from transformers.modeling_layers import GradientCheckpointingLayer as _CheckpointedLayer
except ImportError:  # older transformers: checkpointing is gated in each model's own forward
    _CheckpointedLayer = None


@contextlib.contextmanager
def checkpointing_in_eval(model: nn.Module) -> Iterator[int]:
    """Gradient checkpointing for a model in eval mode (PPO, item 23): transformers only checkpoints a
    layer whose ``training`` flag is set, so for the duration the checkpointed layers alone (not their
    children: their dropout stays off) are flagged as training. Layers whose own forward reads the
    flag (and could turn dropout on) are left as they are. Yields the number of layers flagged."""
    flagged = []
    if _CheckpointedLayer is not None:
        for module in model.modules():
            if (isinstance(module, _CheckpointedLayer) and module.gradient_checkpointing and not module.training
                    and not _reads_own_training_flag(type(module))):
                module.training = True  # this module only; its children keep eval mode
                flagged.append(module)
    try:
        yield len(flagged)
    finally:
        for module in flagged:
            module.training = False


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_hf(
    path: str,
    trust_remote_code: bool = False,
    dtype: str = "float32",
    revision: str | None = None,
    pad_token: str | None = None,
    attn_implementation: str | None = None,
    gradient_checkpointing: bool = False,
    dropout: float | None = None,
    lora: Mapping[str, Any] | None = None,
) -> ModelBundle:
    """Load a causal LM and its tokenizer with ``from_pretrained``.

    Args:
        path: a local directory or a hub id.
        trust_remote_code: run the repository's own modelling code; off unless the config turns it on.
        dtype: weights dtype (value/reward heads and losses stay fp32 regardless, item 39).
        revision: hub revision (branch, tag or commit).
        pad_token: a pad token to add when the tokenizer has none; RLHF needs pad != EOS (item 35).
        attn_implementation: None = transformers' default for the model; "eager", "sdpa",
            "flash_attention_2" (or any other name transformers knows) is passed through.
        gradient_checkpointing: recompute activations in the backward (less memory, ~30% more compute);
            training forwards run without a KV cache.
        dropout: None = the model's own config values; a number sets every dropout field of the
            architecture's config (:func:`dropout_fields`). Active in SFT/RM training, off in PPO (item 23).
        lora: ``{r, alpha, dropout, target_modules}``; r 0 (the default) = no adapter, full fine-tuning
            (:mod:`rlhfkit.models.lora`).
    """
    if dtype not in _DTYPES:
        raise ConfigError(f"model.dtype: unknown dtype '{dtype}'; known: {', '.join(_DTYPES)}")
    if attn_implementation is not None and not isinstance(attn_implementation, str):
        raise ConfigError(f"config key 'model.attn_implementation': expected null or a name (eager, sdpa, "
                          f"flash_attention_2), got {attn_implementation!r}")
    adapter = lora_options(lora)  # checked before anything loads
    source = model_source(path, revision)
    extra: dict[str, Any] = {}
    if attn_implementation is not None:
        extra["attn_implementation"] = attn_implementation
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
        if dropout is not None:
            config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
            set_dropout(config, dropout)
            extra["config"] = config
        model = AutoModelForCausalLM.from_pretrained(
            source, trust_remote_code=trust_remote_code, revision=revision, dtype=_DTYPES[dtype], **extra
        )
    except OSError as err:  # an unknown hub id, a gated repo, a directory without weights ...
        raise ConfigError(f"config key 'model.path': '{path}' could not be loaded: {_first_line(err)}") from err
    except (ValueError, ImportError) as err:
        message = str(err).lower()
        if attn_implementation is not None and any(word in message for word in ("attn", "attention", "flash")):
            raise ConfigError(f"config key 'model.attn_implementation': '{attn_implementation}' cannot be used: "
                              f"{_first_line(err)}") from err
        raise
    if attn_implementation is not None:
        log.info("model.attn_implementation: %s", getattr(model.config, "_attn_implementation", attn_implementation))
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.add_special_tokens({"pad_token": pad_token or "<pad>"})
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
        model.config.pad_token_id = tokenizer.pad_token_id
    if gradient_checkpointing:
        enable_gradient_checkpointing(model)
    if adapter is not None:
        model = apply_lora(model, adapter)
    else:
        log_parameter_counts(model)
    return ModelBundle(model=model, tokenizer=tokenizer)
