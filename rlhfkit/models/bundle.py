"""What a model plugin returns: a causal LM and the tokenizer it was trained with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

ADAPTER_DIR = "adapter"  # a LoRA run's adapter alone, beside its final/ (merged) model


def checkpointing_enabled(model) -> bool:
    """Whether some layer of ``model`` (a LoRA wrapper included) checkpoints its activations."""
    return any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())


@dataclass
class ModelBundle:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase

    def save_pretrained(self, path: str | Path, adapter_path: str | Path | None = None) -> Path:
        """safetensors + config + tokenizer: ``AutoModelForCausalLM.from_pretrained(path)`` loads it.

        A LoRA model (:mod:`rlhfkit.models.lora`) is saved merged in ``path`` (no peft needed to load
        it) and its adapter alone in ``adapter_path`` (default: ``adapter/`` beside ``path``, i.e.
        ``<run>/adapter`` for a stage's ``<run>/final``). A config whose ``use_cache`` was turned off
        for gradient checkpointing is saved with it back on (what inference wants)."""
        from rlhfkit.models.lora import base_model_of, is_lora, save_lora

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = getattr(base_model_of(self.model), "config", None)
        cache_off = getattr(config, "use_cache", None) is False and checkpointing_enabled(self.model)
        if cache_off:
            config.use_cache = True
        try:
            if is_lora(self.model):
                save_lora(self.model, path, Path(adapter_path) if adapter_path else path.parent / ADAPTER_DIR,
                          self.tokenizer)
            else:
                self.model.save_pretrained(path, safe_serialization=True)
        finally:
            if cache_off:
                config.use_cache = False
        self.tokenizer.save_pretrained(path)
        return path


def check_same_tokenizer(a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase, what: str) -> None:
    """RLHF_DETAILS item 38: policy, reference and RM must share one vocabulary."""
    if a.get_vocab() != b.get_vocab():
        raise ValueError(
            f"{what}: the tokenizers differ (vocabulary sizes {len(a)} and {len(b)}); policy, "
            "reference, value and reward models must share one tokenizer (RLHF_DETAILS item 38)"
        )
