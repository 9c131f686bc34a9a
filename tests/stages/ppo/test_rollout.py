"""rlhfkit.stages.ppo.rollout and rlhfkit.models.generation: KV-cache sampling, left padding and position ids, EOS truncation, temperature,
the KL of a policy against itself and against another policy (RLHF_DETAILS items 15, 21-23, 34, 35)."""

from __future__ import annotations

import copy

import pytest
import torch

from rlhfkit.algos.advantage_estimators import GAEEstimator, RLOOEstimator
from rlhfkit.algos import masked_mean, masked_var
from rlhfkit.models import build_tiny, positions_from_mask, scalar_model_from
from rlhfkit.rewards import KeywordReward, LengthReward
from rlhfkit.models.generation import SamplingConfig
from rlhfkit.stages.ppo.rollout import add_advantages, make_rollout

WORDS = "please thanks hello world the a cat dog say tell me you".split()
PROMPTS = ["hello", "say please to the cat", "a dog", "tell me you say hello world the cat"]


@pytest.fixture(scope="module")
def bundle():
    return build_tiny("nano", tokenizer="words", words=WORDS, seed=0)


def rollout_of(bundle, prompts, sampling, seed=0, ref=None, value=None, **kwargs):
    ref = ref if ref is not None else copy.deepcopy(bundle.model)
    return make_rollout(prompts, bundle.model, ref, value, KeywordReward(wanted=["please"]), bundle.tokenizer,
                        sampling, 32, torch.Generator().manual_seed(seed), **kwargs)


def test_left_padding_gives_the_logprobs_and_values_of_the_unpadded_prompt(bundle):
    value = scalar_model_from(bundle, "value", head_init_std=0.1)
    r = rollout_of(bundle, PROMPTS, SamplingConfig(max_new_tokens=6), value=value)
    assert r.prompt_mask[0].tolist()[0] == 0, "short prompts are left-padded (item 35)"
    model = bundle.model.eval()
    for i, prompt in enumerate(PROMPTS):
        p_ids = bundle.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        n = int(r.response_mask[i].sum())
        row = torch.tensor([p_ids + r.response_ids[i, :n].tolist()])  # one prompt, no padding at all
        with torch.no_grad():
            logits = model(input_ids=row).logits[0, len(p_ids) - 1:-1]
            lp = torch.log_softmax(logits, -1).gather(-1, row[0, len(p_ids):, None]).squeeze(-1)
            v = value(row, torch.ones_like(row))[0, len(p_ids) - 1:-1]
        torch.testing.assert_close(r.logprobs[i, :n], lp, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(r.values[i, :n], v, atol=1e-5, rtol=1e-5)


def test_a_rollout_of_trainable_models_holds_no_autograd_graph(bundle):
    """The scoring passes run without a graph: a logprob or value tensor that kept its graph would
    keep every activation of the policy's and critic's forward alive through the PPO epochs
    (measured: ~1 GiB on the benchmark's llama_medium)."""
    value = scalar_model_from(bundle, "value", head_init_std=0.1)
    assert any(p.requires_grad for p in bundle.model.parameters()) and any(p.requires_grad for p in value.parameters())
    r = rollout_of(bundle, PROMPTS, SamplingConfig(max_new_tokens=6), value=value)
    for name in ("logprobs", "ref_logprobs", "values", "entropy", "raw_scores", "scores"):
        tensor = getattr(r, name)
        assert not tensor.requires_grad and tensor.grad_fn is None, name


def test_responses_end_at_the_first_eos(bundle):
    tok = bundle.tokenizer
    value = scalar_model_from(bundle, "value")
    r = rollout_of(bundle, PROMPTS * 16, SamplingConfig(max_new_tokens=8), seed=1, value=value)
    r = add_advantages(r, 0.0, GAEEstimator(), whiten_advantages=False)
    width = r.response_ids.shape[1]
    mid = 0
    for i in range(r.batch_size):
        row = r.response_ids[i].tolist()
        if tok.eos_token_id in row:
            e = row.index(tok.eos_token_id)
            mid += e < width - 1
            assert r.has_eos[i] and r.response_mask[i].tolist() == [1] * (e + 1) + [0] * (width - e - 1)  # EOS included
            assert row[e + 1:] == [tok.pad_token_id] * (width - e - 1)  # padding after EOS (item 21)
            assert torch.all(r.logprobs[i, e + 1:] == 0) and torch.all(r.ref_logprobs[i, e + 1:] == 0)
            assert r.responses[i] == tok.decode(row[:e], skip_special_tokens=True)  # text stops at EOS
            # kl_coef 0: the only reward is the score, at the EOS position (items 15, 21)
            assert r.rewards[i].nonzero().flatten().tolist() in ([e], [])
            assert r.rewards[i, e] == r.scores[i]
        else:
            assert not r.has_eos[i] and r.response_mask[i].all()
    assert mid >= 3, "the test needs responses that end with an EOS in the middle"


def test_missing_eos_penalty_replaces_or_subtracts(bundle):
    sampling = SamplingConfig(max_new_tokens=3)
    plain = rollout_of(bundle, PROMPTS * 8, sampling, seed=2)
    assert not plain.has_eos.all() and torch.equal(plain.scores, plain.raw_scores)
    replaced = rollout_of(bundle, PROMPTS * 8, sampling, seed=2, missing_eos_penalty=-1.0, missing_eos_mode="replace")
    assert torch.equal(replaced.scores, torch.where(replaced.has_eos, replaced.raw_scores, torch.tensor(-1.0)))
    subtracted = rollout_of(bundle, PROMPTS * 8, sampling, seed=2, missing_eos_penalty=0.5, missing_eos_mode="subtract")
    assert torch.equal(subtracted.scores, torch.where(subtracted.has_eos, subtracted.raw_scores, subtracted.raw_scores - 0.5))


def test_temperature_divides_the_logits_of_policy_and_reference(bundle):
    ref = build_tiny("nano", tokenizer="words", words=WORDS, seed=1).model.eval()
    t = 0.6
    r = rollout_of(bundle, PROMPTS, SamplingConfig(max_new_tokens=5, temperature=t), ref=ref)
    with torch.no_grad():
        for model, got in ((bundle.model, r.logprobs), (ref, r.ref_logprobs)):
            logits = model(input_ids=r.input_ids, attention_mask=r.attention_mask,
                           position_ids=positions_from_mask(r.attention_mask)).logits[:, r.prompt_length - 1:-1]
            want = torch.log_softmax(logits / t, -1).gather(-1, r.response_ids[..., None]).squeeze(-1)  # item 22
            untempered = torch.log_softmax(logits, -1).gather(-1, r.response_ids[..., None]).squeeze(-1)
            m = r.response_mask.bool()
            torch.testing.assert_close(got[m], want[m], atol=1e-5, rtol=1e-5)
            assert not torch.allclose(got[m], untempered[m], atol=1e-3)


def test_policy_against_itself_has_kl_exactly_zero(bundle):
    r = add_advantages(rollout_of(bundle, PROMPTS * 4, SamplingConfig(max_new_tokens=8)), 0.2, RLOOEstimator(4))
    assert torch.equal(r.logprobs, r.ref_logprobs)
    assert torch.equal(r.sequence_kl, torch.zeros_like(r.sequence_kl))


@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_sampling_without_filters_gives_a_nonnegative_mean_kl(bundle, estimator):
    """Item 34: with top_k = 0 and top_p = 1 the samples come from pi, so E[k1] = KL(pi || ref) >= 0."""
    policy = copy.deepcopy(bundle.model)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    pair = copy.copy(bundle)
    pair.model = policy
    kls = []
    for seed in range(4):
        r = rollout_of(pair, PROMPTS * 32, SamplingConfig(max_new_tokens=8, top_k=0, top_p=1.0), seed=seed,
                       ref=bundle.model)
        kls.append(add_advantages(r, 0.1, RLOOEstimator(4), kl_estimator=estimator).sequence_kl)
    kl = torch.cat(kls)  # 512 sequences
    assert kl.mean() > 0, f"mean {estimator} KL {kl.mean():.4f} should be >= 0 on samples from the policy"
    assert kl.mean() > 3 * kl.std() / len(kl) ** 0.5  # clearly positive, not by luck


def test_advantages_are_whitened_and_critic_free_has_no_returns(bundle):
    value = scalar_model_from(bundle, "value", head_init_std=0.1)
    r = rollout_of(bundle, PROMPTS * 4, SamplingConfig(max_new_tokens=6), value=value)
    r = add_advantages(r, 0.1, GAEEstimator())
    m = r.response_mask
    assert masked_mean(r.advantages, m).abs() < 1e-5 and masked_var(r.advantages, m) == pytest.approx(1.0, abs=1e-3)
    assert r.returns is not None and r.returns.shape == r.values.shape
    rloo = add_advantages(rollout_of(bundle, [p for p in PROMPTS for _ in range(4)], SamplingConfig(max_new_tokens=6)),
                          0.1, RLOOEstimator(4))
    assert rloo.returns is None and rloo.values is None and rloo.advantages.shape == rloo.response_ids.shape


def test_rollout_shapes_and_select(bundle):
    r = make_rollout(PROMPTS, bundle.model, copy.deepcopy(bundle.model), None, LengthReward(), bundle.tokenizer,
                     SamplingConfig(max_new_tokens=5), 32, torch.Generator().manual_seed(0))
    b, p = len(PROMPTS), r.prompt_ids.shape[1]
    rw = r.response_ids.shape[1]
    assert r.input_ids.shape == r.attention_mask.shape == (b, p + rw) and r.prompt_length == p
    for name in ("logprobs", "ref_logprobs", "entropy", "response_mask"):
        assert getattr(r, name).shape == (b, rw), name
    assert r.scores.shape == r.raw_scores.shape == r.has_eos.shape == (b,)
    mb = r.select(torch.tensor([2, 0]))
    assert mb.prompts == [PROMPTS[2], PROMPTS[0]] and torch.equal(mb.response_ids, r.response_ids[[2, 0]])
    assert mb.values is None and mb.batch_size == 2


def test_pad_equal_to_eos_is_refused(bundle):
    tok = copy.deepcopy(bundle.tokenizer)
    tok.pad_token = tok.eos_token
    with pytest.raises(ValueError, match="item 35"):
        make_rollout(PROMPTS, bundle.model, bundle.model, None, LengthReward(), tok, SamplingConfig(4), 32)


@pytest.mark.parametrize("sampler", ["auto", "hf_generate"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_old_logprobs_from_the_sampler_equal_the_scoring_pass(bundle, sampler, temperature):
    """``stage.old_logprobs=sampler`` takes pi_old from the sampler (TRL's choice) instead of the policy's
    scoring pass: the same tokens and, within fp32 rounding, the same logprobs at the same temperature
    (item 22); 0 after EOS (item 21); the entropy is the one-sample estimate -log pi(y_t)."""
    from rlhfkit.models.samplers import SAMPLERS

    sampling = SamplingConfig(max_new_tokens=8, temperature=temperature)
    value = scalar_model_from(bundle, "value", head_init_std=0.1)
    runs = {mode: rollout_of(bundle, PROMPTS * 4, sampling, seed=3, value=value, sampler=SAMPLERS[sampler](),
                             old_logprobs=mode) for mode in ("forward", "sampler")}
    forward, sampled = runs["forward"], runs["sampler"]
    assert torch.equal(forward.response_ids, sampled.response_ids)  # one random stream, one sample
    assert bool((forward.response_mask == 0).any()), "some responses end early: the masking is exercised"
    torch.testing.assert_close(sampled.logprobs, forward.logprobs, atol=1e-5, rtol=1e-5)
    assert torch.all(sampled.logprobs[forward.response_mask == 0] == 0)
    torch.testing.assert_close(sampled.entropy, -sampled.logprobs)
    torch.testing.assert_close(sampled.ref_logprobs, forward.ref_logprobs)
    torch.testing.assert_close(sampled.values, forward.values)


def test_old_logprobs_from_the_sampler_skip_the_policy_pass(bundle):
    class Timer:
        def __init__(self):
            self.phases = []

        def phase(self, name):
            self.phases.append(name)
            from contextlib import nullcontext
            return nullcontext()

    timers = {mode: Timer() for mode in ("forward", "sampler")}
    for mode, timer in timers.items():
        rollout_of(bundle, PROMPTS, SamplingConfig(max_new_tokens=4), timer=timer, old_logprobs=mode)
    assert "policy_forward" in timers["forward"].phases and "policy_forward" not in timers["sampler"].phases


@pytest.mark.parametrize("sampling, message", [
    (SamplingConfig(max_new_tokens=4, top_k=5), "top_k 5"),
    (SamplingConfig(max_new_tokens=4, top_p=0.9), "top_p 0.9"),
])
def test_old_logprobs_from_a_filtering_sampler_are_refused(bundle, sampling, message):
    from rlhfkit.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"stage\.old_logprobs.*{message}"):
        rollout_of(bundle, PROMPTS, sampling, old_logprobs="sampler")
    with pytest.raises(ConfigError, match=r"stage\.old_logprobs.*'fresh'.*forward, sampler"):
        rollout_of(bundle, PROMPTS, SamplingConfig(max_new_tokens=4), old_logprobs="fresh")
