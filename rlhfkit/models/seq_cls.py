"""Reward models as standard Hugging Face sequence-classification checkpoints.

rlhfkit's reward model is a body and a linear head read at the last real token (RLHF_DETAILS
item 8), normalised as ``gain * raw + offset`` (item 9). It is exported as an
``AutoModelForSequenceClassification`` checkpoint (``num_labels=1``, ``pad_token_id`` set) whose
``model(**batch).logits[:, 0]`` is that normalised reward, and any such checkpoint (rlhfkit's or a
third party's: TRL's RewardTrainer, OpenRLHF) loads back as body + per-token head.

Where the reward is read. HF's decoder seq-cls heads read the score at the rightmost token that is
not ``config.pad_token_id``; rlhfkit reads it at the last token of the attention mask, which is the
EOS it appends to every completion (:mod:`rlhfkit.models.encoding`). With right padding and a pad
distinct from EOS (item 35) the two are the same token.

Folding the normalisation into the weights. The score layer of HF's decoder seq-cls models
(GPT-2, Llama, Qwen2, Mistral, OPT, GPT-NeoX, Phi, ...) has no bias, so ``gain`` goes into the
score weight (``w' = gain * w``) and the constant ``c = gain * head_bias + offset`` needs another
home:

* the final norm has a bias (LayerNorm: GPT-2 ``ln_f``, OPT ``final_layer_norm``, GPT-NeoX,
  Phi): its output is read only by the score (through bias-free linear maps such as OPT's
  ``project_out``), so shifting its bias by ``delta = c * J / |J|^2``, where ``J`` is the
  gradient of the logit with respect to that bias, adds exactly ``c`` to every logit;
* the final norm has none (RMSNorm: Llama, Qwen2, Mistral, Gemma): there is no exact place. An
  RMS-normalised vector times fixed weights cannot carry a constant, and a bias anywhere before the
  norm passes through it non-linearly. The export then leaves ``c`` out: HF's logits are the
  normalised reward minus ``c`` (differences between completions, hence rankings, pairwise
  preferences and best-of-n, are exact), and ``config.rlhfkit["add_to_logits"]`` holds ``c``,
  which rlhfkit adds back when it loads the model. The export logs a warning with the value.

Each export is checked on a probe batch against the model it came from (HF's own forward, with
the shift applied, against rlhfkit's score); a fold that does not reproduce the reward is not
used. rlhfkit's own fields live in ``config.json`` under ``"rlhfkit"``: ``role``, ``gain``,
``offset``, ``head_bias`` (the raw head's bias), ``folded_into`` (the state-dict key of the
shifted bias, or null) and ``add_to_logits``.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedModel

log = logging.getLogger(__name__)

META_KEY = "rlhfkit"  # rlhfkit's fields in config.json
FORMAT_VERSION = 1
SCORE = "score"  # the head attribute of HF's decoder *ForSequenceClassification models


@dataclass
class SeqClsParts:
    """A loaded seq-cls reward model split the way rlhfkit uses it.

    ``weight`` (1, D) and ``bias`` (1,) make ``logits + add_to_logits`` from the body's per-token
    output; ``meta`` is rlhfkit's config entry (None for a third party's checkpoint).
    """

    backbone: PreTrainedModel
    weight: torch.Tensor
    bias: torch.Tensor
    meta: dict[str, Any] | None
    config_pad_id: int | None


def is_seq_cls_dir(path: str | Path) -> bool:
    """A directory whose config.json names a ``*ForSequenceClassification`` architecture (or, without
    one, has a single label)."""
    config = Path(path) / "config.json"
    if not config.exists():
        return False
    fields = json.loads(config.read_text())
    archs = fields.get("architectures") or []
    if archs:
        return any(a.endswith("ForSequenceClassification") for a in archs)
    return len(fields.get("id2label") or {}) == 1 or fields.get("num_labels") == 1


def _tolerance(reference: torch.Tensor, dtype: torch.dtype) -> float:
    rel = 1e-4 if dtype == torch.float32 or dtype == torch.float64 else 5e-2
    return rel * max(1.0, float(reference.abs().max()))


def probe_batch(vocab_size: int, pad_id: int, eos_id: int | None,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Two right-padded rows (lengths 6 and 3) of random non-pad ids, each ending with EOS."""
    gen = torch.Generator().manual_seed(0)
    lengths = (6, 3)
    ids = torch.full((len(lengths), max(lengths)), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        row = torch.randint(0, vocab_size, (n,), generator=gen)
        row[row == pad_id] = (pad_id + 1) % vocab_size
        if eos_id is not None:
            row[-1] = eos_id
        ids[i, :n], mask[i, :n] = row, 1
    return ids.to(device), mask.to(device)


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or "norm" in type(module).__name__.lower()


def final_norm(backbone: nn.Module, ids: torch.Tensor) -> tuple[str, nn.Module] | None:
    """The normalisation layer the body runs last (by execution order, not by name)."""
    order: list[str] = []
    modules = {name: m for name, m in backbone.named_modules() if name and _is_norm(m)
               and not any(_is_norm(c) for c in m.children())}
    hooks = [m.register_forward_hook(lambda _m, _i, _o, name=name: order.append(name)) for name, m in modules.items()]
    try:
        with torch.no_grad():
            backbone(input_ids=ids)
    finally:
        for h in hooks:
            h.remove()
    return (order[-1], modules[order[-1]]) if order else None


def _bias_direction(backbone: nn.Module, norm: nn.Module, score_weight: torch.Tensor,
                    ids: torch.Tensor) -> torch.Tensor | None:
    """d logit(last token) / d norm.bias: the score direction seen from the norm's output."""
    bias = norm.bias
    delta = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device, requires_grad=True)

    def add(_m, _i, out):
        return out + delta.to(out.dtype) if isinstance(out, torch.Tensor) else out

    handle = norm.register_forward_hook(add)
    try:
        with torch.enable_grad():
            hidden = backbone(input_ids=ids).last_hidden_state[0, -1]  # (D,)
            logit = hidden.float() @ score_weight.float().reshape(-1)
            if not logit.requires_grad:
                return None
            (grad,) = torch.autograd.grad(logit, delta)
    finally:
        handle.remove()
    return grad


def export_seq_cls(
    backbone: PreTrainedModel,
    head: nn.Linear,
    gain: float,
    offset: float,
    path: str | Path,
    tokenizer=None,
    reward_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Write ``backbone`` + ``head`` (normalised by gain/offset) as an HF seq-cls checkpoint.

    ``reward_fn(ids, mask) -> (B,)`` is the normalised reward the export must reproduce (checked on
    a probe batch). Returns rlhfkit's config entry.
    """
    path = Path(path)
    pad_id = tokenizer.pad_token_id if tokenizer is not None else backbone.config.pad_token_id
    eos_id = tokenizer.eos_token_id if tokenizer is not None else backbone.config.eos_token_id
    if isinstance(eos_id, (list, tuple)):
        eos_id = eos_id[0] if eos_id else None
    if pad_id is None:
        raise ValueError("exporting a reward model needs a pad token (HF's seq-cls models find the last real "
                         "token by it); RLHF_DETAILS item 35")
    if eos_id is not None and pad_id == eos_id:
        log.warning("reward model export: pad token = EOS (id %d); HF's seq-cls forward reads the score at the "
                    "last non-pad token, i.e. the token before the trailing EOS, not at the EOS as rlhfkit does "
                    "(items 8, 35)", pad_id)
    device = head.weight.device
    dtype = next(backbone.parameters()).dtype
    raw_weight = head.weight.detach().float().reshape(1, -1)
    head_bias = float(head.bias.detach().float().reshape(()))
    if gain == 0:
        raise ValueError("reward model export: gain 0 makes every reward the same constant")
    constant = gain * head_bias + offset  # what the bias-free score layer cannot add
    score_weight = gain * raw_weight  # (1, D)

    config = copy.deepcopy(backbone.config)
    config.num_labels = 1
    config.pad_token_id = pad_id
    with torch.device("meta"):
        seq_cls = AutoModelForSequenceClassification.from_config(config)
    prefix = seq_cls.base_model_prefix
    if not isinstance(getattr(seq_cls, prefix, None), type(backbone)) \
            or not isinstance(getattr(seq_cls, SCORE, None), nn.Linear):
        raise ValueError(f"reward model export: {type(seq_cls).__name__} is not a body '{prefix}' + linear "
                         f"'{SCORE}' head; rlhfkit cannot write this architecture as a seq-cls checkpoint")
    setattr(seq_cls, prefix, backbone)  # the same module: no copy of the weights
    score = nn.Linear(score_weight.shape[1], 1, bias=False, device=device, dtype=dtype)
    with torch.no_grad():
        score.weight.copy_(score_weight.to(dtype))
    setattr(seq_cls, SCORE, score)
    if any(p.is_meta for p in seq_cls.parameters()):
        raise ValueError(f"reward model export: {type(seq_cls).__name__} has parameters outside its body and "
                         f"'{SCORE}' head; rlhfkit cannot fill them")

    was_training = backbone.training
    backbone.eval()
    seq_cls.eval()
    try:
        vocab = backbone.get_input_embeddings().num_embeddings
        ids, mask = probe_batch(vocab, pad_id, eos_id, device)
        with torch.no_grad():
            expected = reward_fn(ids, mask).float() if reward_fn is not None else None
        folded_into, shifted = None, None
        if constant != 0:
            found = final_norm(backbone, ids[:1])
            norm = found[1] if found else None
            if norm is not None and isinstance(getattr(norm, "bias", None), nn.Parameter) and norm.bias.dim() == 1:
                direction = _bias_direction(backbone, norm, score_weight, ids[:1])
                if direction is not None and float(direction @ direction) > 0:
                    shift = constant * direction / (direction @ direction)
                    if _logits(seq_cls, ids, mask, norm, shift, expected, 0.0):
                        folded_into = f"{prefix}.{found[0]}.bias"
                        shifted = (norm.bias.detach().float() + shift).to(norm.bias.dtype)
        add_to_logits = 0.0 if (folded_into or constant == 0) else constant
        if folded_into is None and not _logits(seq_cls, ids, mask, None, None, expected, add_to_logits):
            raise ValueError(f"reward model export: {type(seq_cls).__name__}'s own forward does not reproduce "
                             "rlhfkit's reward on a probe batch; not exported")
    finally:
        backbone.train(was_training)
    if add_to_logits:
        log.warning("reward model export (%s): the final norm has no bias (or shifting it does not reproduce "
                    "the reward), so the constant %.6g of the normalisation (gain * head bias + offset, item 9) "
                    "cannot be folded into the weights; HF's "
                    "logits are the normalised reward minus %.6g (differences are exact). config.json "
                    "rlhfkit.add_to_logits holds it and rlhfkit adds it back.", type(seq_cls).__name__,
                    add_to_logits, add_to_logits)
    meta = {"format": FORMAT_VERSION, "role": "reward", "gain": float(gain), "offset": float(offset),
            "head_bias": head_bias, "folded_into": folded_into, "add_to_logits": float(add_to_logits)}
    setattr(seq_cls.config, META_KEY, meta)
    state = seq_cls.state_dict()
    if folded_into is not None:
        state[folded_into] = shifted
    path.mkdir(parents=True, exist_ok=True)
    seq_cls.save_pretrained(path, state_dict=state, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    log.info("reward model exported to %s as %s (gain %.6g, offset %.6g; constant %s)", path,
             type(seq_cls).__name__, gain, offset,
             f"folded into {folded_into}" if folded_into else ("0" if constant == 0 else "left out of the logits"))
    return meta


def _logits(seq_cls: nn.Module, ids: torch.Tensor, mask: torch.Tensor, norm: nn.Module | None,
            shift: torch.Tensor | None, expected: torch.Tensor | None, add: float) -> bool:
    """Whether HF's forward (with ``shift`` added to ``norm``'s output) + ``add`` matches ``expected``."""
    if expected is None:
        return True
    handle = None
    if norm is not None and shift is not None:
        handle = norm.register_forward_hook(
            lambda _m, _i, out: out + shift.to(out.dtype) if isinstance(out, torch.Tensor) else out)
    try:
        with torch.no_grad():
            logits = seq_cls(input_ids=ids, attention_mask=mask).logits[:, 0].float() + add
    finally:
        if handle is not None:
            handle.remove()
    dtype = next(seq_cls.parameters()).dtype
    return bool((logits - expected).abs().max() <= _tolerance(expected, dtype))


def load_seq_cls(path: str | Path, **kwargs: Any) -> SeqClsParts:
    """An HF seq-cls reward model (num_labels=1, a linear ``score`` per token) split into parts.

    Refuses a checkpoint with another number of labels, with weights HF would initialise anew (a
    causal LM's directory: no score head), or whose forward is not the linear head read at the last
    real token (checked on a probe, so what rlhfkit computes is what HF computes).
    """
    path = Path(path)
    config = AutoConfig.from_pretrained(path, **kwargs)
    if getattr(config, "num_labels", None) != 1:
        raise ValueError(f"{path}: config has num_labels={getattr(config, 'num_labels', None)}; a reward model "
                         "is a sequence-classification checkpoint with one output (num_labels=1)")
    model, info = AutoModelForSequenceClassification.from_pretrained(path, output_loading_info=True, **kwargs)
    missing = list(info.get("missing_keys") or [])
    if missing:
        raise ValueError(f"{path}: {type(model).__name__} is missing {len(missing)} weight(s) (e.g. "
                         f"{sorted(missing)[0]}); is this a reward model (a causal LM has no score head)?")
    if info.get("unexpected_keys"):
        log.warning("%s: %d weight(s) not used by %s (e.g. %s)", path, len(info["unexpected_keys"]),
                    type(model).__name__, sorted(info["unexpected_keys"])[0])
    score = getattr(model, SCORE, None)
    backbone = model.base_model
    if not isinstance(score, nn.Linear) or score.out_features != 1 or backbone is model:
        raise ValueError(f"{path}: {type(model).__name__} has no linear '{SCORE}' head on a body; rlhfkit reads "
                         "rewards from decoder seq-cls models (GPT-2, Llama, Qwen2, Mistral, OPT, ...)")
    meta = getattr(model.config, META_KEY, None)
    weight = score.weight.detach().float().reshape(1, -1).clone()
    bias = (score.bias.detach().float().reshape(1).clone() if score.bias is not None else torch.zeros(1))
    if isinstance(meta, dict):
        bias = bias + float(meta.get("add_to_logits", 0.0))
    else:
        meta = None
        _check_reads_last_token(model, backbone, weight, bias, path)
    return SeqClsParts(backbone, weight, bias, meta, getattr(model.config, "pad_token_id", None))


def _check_reads_last_token(model: nn.Module, backbone: nn.Module, weight: torch.Tensor, bias: torch.Tensor,
                            path: Path) -> None:
    """HF's forward of each probe row alone = the head applied to the body's last hidden state."""
    model.eval()
    vocab = backbone.get_input_embeddings().num_embeddings
    pad = getattr(model.config, "pad_token_id", None)
    ids, mask = probe_batch(vocab, pad if pad is not None else -1, None, next(backbone.parameters()).device)
    with torch.no_grad():
        for row, row_mask in zip(ids, mask):
            row = row[row_mask.bool()][None]  # (1, n): no padding, so HF reads the last token
            theirs = model(input_ids=row).logits[:, 0].float()
            hidden = backbone(input_ids=row).last_hidden_state[:, -1].float()
            ours = hidden @ weight.T.to(row.device) + bias.to(row.device)
            if (theirs - ours[:, 0]).abs().max() > _tolerance(theirs, next(backbone.parameters()).dtype):
                raise ValueError(f"{path}: {type(model).__name__}'s score is not a linear head on the last token's "
                                 "hidden state; rlhfkit cannot use it as a reward or value model")
