"""What a model plugin returns: a causal LM and the tokenizer it was trained with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class ModelBundle:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase

    def save_pretrained(self, path: str | Path) -> Path:
        """safetensors + config + tokenizer: ``AutoModelForCausalLM.from_pretrained(path)`` loads it."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        return path


def check_same_tokenizer(a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase, what: str) -> None:
    """RLHF_DETAILS item 38: policy, reference and RM must share one vocabulary."""
    if a.get_vocab() != b.get_vocab():
        raise ValueError(
            f"{what}: the tokenizers differ (vocabulary sizes {len(a)} and {len(b)}); policy, "
            "reference, value and reward models must share one tokenizer (RLHF_DETAILS item 38)"
        )
