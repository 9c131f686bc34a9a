"""Any ``AutoModelForCausalLM`` and its tokenizer, from a hub id or a local directory."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlhfkit.models.bundle import ModelBundle
from rlhfkit.errors import ConfigError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}


def load_hf(
    path: str,
    trust_remote_code: bool = False,
    dtype: str = "float32",
    revision: str | None = None,
    pad_token: str | None = None,
) -> ModelBundle:
    """Load a causal LM and its tokenizer with ``from_pretrained``.

    Args:
        path: a local directory or a hub id.
        trust_remote_code: run the repository's own modelling code; off unless the config turns it on.
        dtype: weights dtype (value/reward heads and losses stay fp32 regardless, item 39).
        revision: hub revision (branch, tag or commit).
        pad_token: a pad token to add when the tokenizer has none; RLHF needs pad != EOS (item 35).
    """
    if dtype not in _DTYPES:
        raise ConfigError(f"model.dtype: unknown dtype '{dtype}'; known: {', '.join(_DTYPES)}")
    looks_local = path.startswith((".", "/", "~")) or Path(path).expanduser().exists()
    if looks_local and not Path(path).expanduser().exists():
        raise FileNotFoundError(f"model.path: no model directory at '{path}'")
    source = str(Path(path).expanduser()) if looks_local else path
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
    model = AutoModelForCausalLM.from_pretrained(
        source, trust_remote_code=trust_remote_code, revision=revision, dtype=_DTYPES[dtype]
    )
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.add_special_tokens({"pad_token": pad_token or "<pad>"})
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
        model.config.pad_token_id = tokenizer.pad_token_id
    return ModelBundle(model=model, tokenizer=tokenizer)
