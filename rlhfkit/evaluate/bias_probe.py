"""The bias probe of :mod:`rlhfkit.world.bias` on a causal LM: the next-token probabilities of the
pronouns after each probe prompt, and the model's bias score."""

from __future__ import annotations

import torch

from rlhfkit.models.encoding import encode_prompts
from rlhfkit.models.scalar_head import positions_from_mask
from rlhfkit.world.bias import OCCUPATIONS, bias_score, probe_prompts
from rlhfkit.world.vocab import PRONOUNS


def pronoun_ids(tokenizer) -> dict[str, int]:
    """Each pronoun's token id (the world's word tokenizer has one token per word)."""
    out = {}
    for pronoun in PRONOUNS:
        ids = tokenizer(pronoun, add_special_tokens=False)["input_ids"]
        if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
            raise ValueError(f"the bias probe needs '{pronoun}' as one token of the tokenizer, got ids {ids}")
        out[pronoun] = ids[0]
    return out


@torch.no_grad()
def pronoun_probabilities(model, tokenizer) -> dict[str, dict[str, float]]:
    """``{occupation: {pronoun: P(pronoun | "the <occupation> said")}}`` from one forward pass."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids, mask, _ = encode_prompts(tokenizer, probe_prompts(), max_length=16)  # left-padded: last column is next
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                   position_ids=positions_from_mask(mask).to(device)).logits  # item 35
    probs = torch.softmax(logits[:, -1].float(), dim=-1).cpu()  # (n_occupations, V)
    model.train(was_training)
    wanted = pronoun_ids(tokenizer)
    return {o: {p: float(probs[i, wanted[p]]) for p in PRONOUNS} for i, o in enumerate(OCCUPATIONS)}


def model_bias(model, tokenizer) -> tuple[float, dict[str, dict[str, float]]]:
    """(bias score, the probabilities it came from)."""
    probabilities = pronoun_probabilities(model, tokenizer)
    return bias_score(probabilities), probabilities
