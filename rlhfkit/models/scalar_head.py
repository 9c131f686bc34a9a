"""Value and reward models: a transformer backbone plus a scalar head.

The reward is read at the last real token (RLHF_DETAILS item 8); values are per token. The head
and its arithmetic stay fp32 under mixed precision (item 39). A reward model carries its
normalisation (item 9): ``normalised = gain * raw + offset``, applied whenever the model scores.

A reward model is saved as a standard Hugging Face ``AutoModelForSequenceClassification``
checkpoint whose logits are the normalised reward (the normalisation folded into the weights:
:mod:`rlhfkit.models.seq_cls`); any such checkpoint with ``num_labels=1`` loads back. A value model
keeps rlhfkit's own format (the body, ``scalar_head.safetensors`` and ``scalar_head.json``), which
also still loads as a reward model (RMs saved by earlier versions).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel

from rlhfkit.models.bundle import ModelBundle
from rlhfkit.models.lora import merged_copy
from rlhfkit.models.seq_cls import export_seq_cls, is_seq_cls_dir, load_seq_cls

HEAD_WEIGHTS = "scalar_head.safetensors"
HEAD_META = "scalar_head.json"


def last_real_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) 0/1 mask -> (B,) index of the last 1 in each row (left or right padding)."""
    if (attention_mask.sum(-1) == 0).any():
        raise ValueError("a row of attention_mask has no real token")
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    return (positions * attention_mask.long()).argmax(-1)  # (B,)


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) mask -> (B, T) position ids counting real tokens only (left padding; item 35)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class ScalarHeadModel(nn.Module):
    """A backbone (``AutoModel``, no LM head) and a linear head to one scalar per token.

    Args:
        backbone: the transformer body, e.g. ``causal_lm.base_model``.
        role: "reward" or "value"; only bookkeeping and the default head init differ.
        head_init_std: std of the head weight; ``None`` uses item 10's 1/sqrt(d_model + 1) for a
            reward head and zeros for a value head.
    """

    def __init__(self, backbone: PreTrainedModel, role: str = "reward", head_init_std: float | None = None) -> None:
        super().__init__()
        if role not in ("reward", "value"):
            raise ValueError(f"role must be 'reward' or 'value', got '{role}'")
        self.backbone = backbone
        self.role = role
        width = backbone.config.hidden_size
        self.head = nn.Linear(width, 1)
        std = head_init_std if head_init_std is not None else (1 / math.sqrt(width + 1) if role == "reward" else 0.0)
        nn.init.normal_(self.head.weight, std=std) if std > 0 else nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)  # item 10: bias 0
        self.register_buffer("gain", torch.tensor(1.0))
        self.register_buffer("offset", torch.tensor(0.0))
        self.source: str | None = None  # where from_pretrained read it: "rlhfkit", "rlhfkit-own-format", "hf"

    @classmethod
    def from_causal_lm(cls, causal_lm: PreTrainedModel, role: str = "reward", head_init_std: float | None = None) -> "ScalarHeadModel":
        """A new head on a copy of the LM's body (the LM itself is left untouched)."""
        return cls(copy.deepcopy(causal_lm.base_model), role=role, head_init_std=head_init_std)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and mask -> (B, T) raw scalar per token, fp32."""
        hidden = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=positions_from_mask(attention_mask)
        ).last_hidden_state  # (B, T, D)
        with torch.autocast(device_type=hidden.device.type, enabled=False):  # item 39: fp32 head under AMP
            return self.head(hidden.float()).squeeze(-1)  # (B, T)

    def raw_score(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B,) the head's output at the last real token (item 8)."""
        per_token = self(input_ids, attention_mask)  # (B, T)
        return per_token.gather(-1, last_real_index(attention_mask)[:, None]).squeeze(-1)

    def score(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B,) normalised reward: gain * raw + offset (item 9)."""
        return self.gain * self.raw_score(input_ids, attention_mask) + self.offset

    def set_normalisation(self, gain: float, offset: float) -> None:
        self.gain.fill_(float(gain))
        self.offset.fill_(float(offset))

    def save_pretrained(self, path: str | Path, tokenizer=None) -> Path:
        """A reward model: a standard HF ``AutoModelForSequenceClassification`` checkpoint whose logits
        are the normalised reward (:func:`rlhfkit.models.seq_cls.export_seq_cls`); a value model:
        rlhfkit's own format (body + ``scalar_head.safetensors`` / ``scalar_head.json``). A LoRA body
        is saved merged (loads without peft)."""
        if self.role == "reward":
            export_seq_cls(merged_copy(self.backbone), self.head, float(self.gain), float(self.offset), path, tokenizer,
                           reward_fn=self.score)
            return Path(path)
        return self._save_own_format(path, tokenizer)

    def _save_own_format(self, path: str | Path, tokenizer=None) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        merged_copy(self.backbone).save_pretrained(path, safe_serialization=True)
        tensors = {
            "weight": self.head.weight.detach().float().contiguous(),
            "bias": self.head.bias.detach().float().contiguous(),
            "gain": self.gain.detach().float().reshape(1),
            "offset": self.offset.detach().float().reshape(1),
        }
        save_file(tensors, str(path / HEAD_WEIGHTS))
        meta = {"role": self.role, "gain": float(self.gain), "offset": float(self.offset)}
        (path / HEAD_META).write_text(json.dumps(meta, indent=2) + "\n")
        if tokenizer is not None:
            tokenizer.save_pretrained(path)
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, role: str | None = None) -> "ScalarHeadModel":
        """Load a reward or value model; ``role`` overrides the saved one (an RM initialising a critic).

        Reads rlhfkit's seq-cls export, its older own format (``scalar_head.safetensors``) and any
        third party's HF seq-cls checkpoint with ``num_labels=1`` (``source`` says which:
        "rlhfkit", "rlhfkit-own-format", "hf"). As a reward model it scores what the checkpoint
        scores (rlhfkit's normalised reward, or a third party's logits); ``gain``/``offset`` are
        rlhfkit's normalisation (1 and 0 for a third party's model), so ``raw_score`` is the
        unnormalised head. As a value model (item 24) the head starts as the RM's normalised score,
        read at every token, with gain 1 and offset 0.
        """
        path = Path(path)
        if (path / HEAD_WEIGHTS).exists():
            return cls._from_own_format(path, role)
        if not is_seq_cls_dir(path):
            raise FileNotFoundError(f"{path}: neither a sequence-classification checkpoint (config.json with a "
                                    f"*ForSequenceClassification architecture) nor a {HEAD_WEIGHTS}; is this a "
                                    "reward/value model?")
        parts = load_seq_cls(path)
        meta = parts.meta or {}
        role = role or meta.get("role", "reward")
        model = cls(parts.backbone, role=role, head_init_std=0.0)
        gain, offset = float(meta.get("gain", 1.0)), float(meta.get("offset", 0.0))
        with torch.no_grad():
            model.head.to(parts.weight.device)
            if role == "reward" and gain != 0 and (gain, offset) != (1.0, 0.0):
                # logits + add_to_logits = gain * raw + offset: keep raw in the head, the rest in gain/offset
                model.head.weight.copy_(parts.weight / gain)
                model.head.bias.copy_((parts.bias - offset) / gain)
                model.set_normalisation(gain, offset)
            else:
                model.head.weight.copy_(parts.weight)
                model.head.bias.copy_(parts.bias)
        model.source = "rlhfkit" if parts.meta is not None else "hf"
        return model

    @classmethod
    def _from_own_format(cls, path: Path, role: str | None) -> "ScalarHeadModel":
        meta = json.loads((path / HEAD_META).read_text())
        role = role or meta["role"]
        model = cls(AutoModel.from_pretrained(path), role=role, head_init_std=0.0)
        tensors = load_file(str(path / HEAD_WEIGHTS))
        gain, offset = tensors["gain"].item(), tensors["offset"].item()
        with torch.no_grad():
            if role == "reward":
                model.head.weight.copy_(tensors["weight"])
                model.head.bias.copy_(tensors["bias"])
                model.set_normalisation(gain, offset)
            else:  # a critic starts as the (normalised) score; a saved value model has gain 1, offset 0
                model.head.weight.copy_(gain * tensors["weight"])
                model.head.bias.copy_(gain * tensors["bias"] + offset)
        model.source = "rlhfkit-own-format"
        return model


def load_scalar_bundle(path: str | Path, role: str) -> tuple[ScalarHeadModel, object]:
    """A saved head model and its tokenizer."""
    return ScalarHeadModel.from_pretrained(path, role=role), AutoTokenizer.from_pretrained(path)


def scalar_model_from(source: ModelBundle | str | Path, role: str, head_init_std: float | None = None) -> ScalarHeadModel:
    """A value/reward model from a causal LM bundle or from a saved reward/value model directory."""
    if isinstance(source, ModelBundle):
        return ScalarHeadModel.from_causal_lm(source.model, role=role, head_init_std=head_init_std)
    return ScalarHeadModel.from_pretrained(source, role=role)
