"""Any ``AutoModelForCausalLM`` and its tokenizer, from a hub id or a local directory."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlhfkit.models.bundle import ModelBundle
from rlhfkit.errors import ConfigError
from rlhfkit.models.hub_source import model_source

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
    source = model_source(path, revision)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
        model = AutoModelForCausalLM.from_pretrained(
            source, trust_remote_code=trust_remote_code, revision=revision, dtype=_DTYPES[dtype]
        )
    except OSError as err:  # an unknown hub id, a gated repo, a directory without weights ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"config key 'model.path': '{path}' could not be loaded: {first}") from err
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.add_special_tokens({"pad_token": pad_token or "<pad>"})
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
        model.config.pad_token_id = tokenizer.pad_token_id
    return ModelBundle(model=model, tokenizer=tokenizer)
