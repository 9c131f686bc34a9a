"""Prompts: determinism, families, users, PII, duplicates, parsing."""

import pytest

from rlhfkit.world.tasks import (FAMILIES, MAX_PROMPT_WORDS, Prompt, apply_op, ideal_completion,
                                 parse_prompt, sample_prompts, scrub_pii, user_ids)


def test_same_seed_same_prompts_other_seed_other_prompts():
    a = sample_prompts(300, seed=7, pii_rate=0.2, dup_rate=0.1)
    assert a == sample_prompts(300, seed=7, pii_rate=0.2, dup_rate=0.1)
    assert a != sample_prompts(300, seed=8, pii_rate=0.2, dup_rate=0.1)


def test_families_and_weights():
    prompts = sample_prompts(600, seed=0)
    assert {p.family for p in prompts} == set(FAMILIES)
    only_qa = sample_prompts(50, seed=0, family_weights={"qa": 1.0})
    assert {p.family for p in only_qa} == {"qa"}
    with pytest.raises(ValueError):
        sample_prompts(5, seed=0, family_weights={"poetry": 1.0})


@pytest.mark.parametrize("weights,message", [
    ({"poetry": 1.0}, r"'world.family_weights.poetry': not a task family; families: instruction, qa, toxicity, knowledge"),
    ({"qa": -0.5}, r"'world.family_weights.qa': -0.5 is not a finite weight >= 0"),
    ({"qa": float("nan")}, r"'world.family_weights.qa': nan is not"),
    ({"qa": "lots"}, r"'world.family_weights.qa': 'lots' is not"),
    ({"qa": 0, "knowledge": 0.0}, r"'world.family_weights': no family has a positive weight"),
    ([0.5, 0.5], r"'world.family_weights': expected a mapping"),
])
def test_bad_family_weights_stop_the_world_naming_the_key(weights, message):
    from rlhfkit.errors import ConfigError
    from rlhfkit.world import build_world

    with pytest.raises(ConfigError, match=message):
        build_world(seed=0, n_sft=2, n_rm=2, n_ppo=2, n_eval=2, n_pretrain_docs=2, n_heldout_docs=2,
                    family_weights=weights)


def test_users_come_from_the_pool():
    assert {p.user_id for p in sample_prompts(200, seed=1, users=5)} <= set(user_ids(5))
    assert {p.user_id for p in sample_prompts(50, seed=1, users=["x", "y"])} <= {"x", "y"}


def test_pii_and_duplicates_appear_at_roughly_their_rates():
    prompts = sample_prompts(2000, seed=2, pii_rate=0.2, dup_rate=0.1)
    n_pii = sum(p.pii is not None for p in prompts)
    n_dup = len(prompts) - len(set(prompts))
    assert 0.12 * 2000 < n_pii < 0.28 * 2000
    assert 0.05 * 2000 < n_dup < 0.15 * 2000
    assert sample_prompts(500, seed=2)[0].pii is None
    assert all(p.pii is None for p in sample_prompts(500, seed=2))


def test_scrub_pii():
    assert scrub_pii("email me at bob@mail.com . sort : a b c =>") == \
        "email me at [EMAIL] . sort : a b c =>"
    assert scrub_pii("call me at 555-0134 . describe bob .") == \
        "call me at [PHONE] . describe bob ."
    assert scrub_pii("sort : a b c =>") == "sort : a b c =>"


def test_prompt_lengths():
    assert max(len(p.text.split()) for p in sample_prompts(3000, 3, pii_rate=0.5)) \
        <= MAX_PROMPT_WORDS


def test_parse_prompt_round_trips_raw_and_scrubbed_text():
    for p in sample_prompts(2000, seed=4, pii_rate=0.3):
        assert parse_prompt(p.text, p.user_id) == p
        scrubbed = parse_prompt(p.scrubbed_text, p.user_id)
        assert ideal_completion(scrubbed) == ideal_completion(p)
        assert (scrubbed.family, scrubbed.answer, scrubbed.respectful) == \
            (p.family, p.answer, p.respectful)


@pytest.mark.parametrize("text", ["", "hello", "sort : a b", "blend : a b =>",
                                  "context : the cup is red . question : what is",
                                  "tell me about zed ."])
def test_parse_prompt_rejects_other_text(text):
    with pytest.raises(ValueError):
        parse_prompt(text)


def test_ops_and_ideals():
    items = ("d", "b", "a", "c")
    assert apply_op("sort", items) == ["a", "b", "c", "d"]
    assert apply_op("reverse", items) == ["c", "a", "b", "d"]
    assert apply_op("copy", items) == list(items)
    assert apply_op("first", items) == ["d"]
    assert apply_op("last", items) == ["c"]
    assert apply_op("count", ("x", "x", "y")) == ["three"]
    qa = parse_prompt("context : the cup is red . the box is big . "
                      "question : what color is the hat ? answer :")
    assert not qa.stated and ideal_completion(qa) == "not stated"
    qa2 = parse_prompt("context : the cup is red . question : what color is the cup ? answer :")
    assert qa2.answer == "red" and ideal_completion(qa2) == "red"
    tox = parse_prompt("respectfully , tell me about bob .")
    assert tox == Prompt("respectfully , tell me about bob .", "toxicity", name="bob",
                         respectful=True)
