"""``stage.fast_kernels.torch_compile``: the scoring passes through inductor compute what the eager
models compute, the sampler keeps the eager policy, and no state dict changes."""

from __future__ import annotations

import copy

import torch

from rlhfkit.models import ScalarHeadModel, build_tiny
from rlhfkit.models.compile_scoring import compile_scoring, uncompiled
from rlhfkit.models.generation import response_logits, response_values


def test_compiled_scoring_matches_eager_and_keeps_state_dicts():
    torch.manual_seed(0)
    policy = build_tiny("nano", seed=0).model.eval()
    ref = copy.deepcopy(policy).requires_grad_(False)
    value = ScalarHeadModel(copy.deepcopy(policy.base_model), role="value").eval()
    keys = (list(policy.state_dict()), list(ref.state_dict()), list(value.state_dict()))
    ids = torch.randint(3, policy.config.vocab_size, (3, 7))
    mask = torch.ones_like(ids)
    mask[0, :2] = 0  # a left-padded prompt
    eager = (response_logits(policy, ids, mask, 4, True), response_logits(ref, ids, mask, 4, True),
             response_values(value, ids, mask, 4))

    scoring = compile_scoring(policy, ref, value, None)

    assert uncompiled(scoring) is policy and scoring is not policy  # a wrapper: the policy itself stays eager
    assert policy._compiled_call_impl is None  # the sampler's decode steps are not compiled
    compiled = (response_logits(scoring, ids, mask, 4, True), response_logits(ref, ids, mask, 4, True),
                response_values(value, ids, mask, 4))
    assert compiled[0].shape == eager[0].shape == (3, 3, policy.config.vocab_size)  # logits_to_keep seen through
    for got, want in zip(compiled, eager):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert (list(policy.state_dict()), list(ref.state_dict()), list(value.state_dict())) == keys

    loss = response_logits(scoring, ids, mask, 4, True).logsumexp(-1).mean()  # the PPO epochs' backward
    loss.backward()
    eager_policy = copy.deepcopy(policy).requires_grad_(True)
    eager_policy.zero_grad()
    response_logits(eager_policy, ids, mask, 4, True).logsumexp(-1).mean().backward()
    for (name, p), q in zip(policy.named_parameters(), eager_policy.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)
