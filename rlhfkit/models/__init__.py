"""Models: the bundle every model plugin returns, tiny local models, HF loading, scalar heads."""

from rlhfkit.models.bundle import ModelBundle, check_same_tokenizer
from rlhfkit.models.hf import load_hf
from rlhfkit.models.scalar_head import (
    ScalarHeadModel,
    last_real_index,
    load_scalar_bundle,
    positions_from_mask,
    scalar_model_from,
)
from rlhfkit.models.tiny import TINY_SIZES, build_tiny
from rlhfkit.models.tokenizers import byte_tokenizer, word_tokenizer

__all__ = [
    "TINY_SIZES",
    "ModelBundle",
    "ScalarHeadModel",
    "build_tiny",
    "byte_tokenizer",
    "check_same_tokenizer",
    "last_real_index",
    "load_hf",
    "load_scalar_bundle",
    "positions_from_mask",
    "scalar_model_from",
    "word_tokenizer",
]
