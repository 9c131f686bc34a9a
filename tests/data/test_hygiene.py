"""PII scrubbing, prefix dedupe, per-user cap, split by user, and the named-step pipeline."""

from __future__ import annotations

import pytest

from rlhfkit.data import (
    RankingExample,
    SFTExample,
    TextExample,
    cap_per_user,
    dedupe_by_prefix,
    luhn_valid,
    run_hygiene,
    scrub_examples,
    scrub_pii,
    split_by_user,
)


def sft(prompt, user=None, completion="ok", i=0):
    return SFTExample(prompt, completion, f"t.jsonl:{i + 1}", user)


# --------------------------------------------------------------------------- PII


@pytest.mark.parametrize(("text", "expected", "kind"), [
    ("Mail me at jane.doe+rlhf@mail.example.co.uk please.", "Mail me at [EMAIL] please.", "email"),
    ("Call (555) 123-4567 now", "Call [PHONE] now", "phone"),
    ("Call 555-123-4567.", "Call [PHONE].", "phone"),
    ("Call 555.123.4567", "Call [PHONE]", "phone"),
    ("Call 555 123 4567", "Call [PHONE]", "phone"),
    ("Ring +44 20 7946 0958 today", "Ring [PHONE] today", "phone"),
    ("Ring +1-555-123-4567", "Ring [PHONE]", "phone"),
    ("Card 4111 1111 1111 1111 exp 12/27", "Card [CARD] exp 12/27", "card"),
    ("Card 4111-1111-1111-1111", "Card [CARD]", "card"),
    ("Amex 378282246310005.", "Amex [CARD].", "card"),
    ("Typo 4111 1111 1111 1112", "Typo [CARD]", "card"),  # Luhn not required by default
])
def test_scrub_pii_kinds(text, expected, kind):
    out, counts = scrub_pii(text)
    assert out == expected
    assert dict(counts) == {kind: 1}


def test_scrub_pii_leaves_ordinary_numbers_alone():
    text = ("In 2023, 12 of 300 people paid $1,500.00 on 2023-10-05 at 10:30; version 10.15.7, "
            "IP 192.168.100.200, ISBN 978-0-306-40615-7, counting 1 2 3 4 5 6 7 8 9 10 11 12 13 14.")
    assert scrub_pii(text) == (text, {})


def test_require_luhn():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    out, counts = scrub_pii("a 4111 1111 1111 1112 b 4111111111111111", require_luhn=True)
    assert out == "a 4111 1111 1111 1112 b [CARD]" and counts == {"card": 1}


def test_scrub_examples_on_every_text_field():
    examples = [
        sft("my mail is a@b.io", completion="call 555-123-4567"),
        RankingExample("P", ["card 4111111111111111", "fine", "x@y.org"], [0, 1, 2], "r:1"),
        TextExample("Founded in 1998 with 40 staff.", "p:1"),
    ]
    out, report = scrub_examples(examples)
    assert out[0] == sft("my mail is [EMAIL]", completion="call [PHONE]")
    assert out[1].completions == ["card [CARD]", "fine", "[EMAIL]"] and out[1].ranks == [0, 1, 2]
    assert out[2] is examples[2]
    assert dict(report.counts) == {"pii_email": 2, "pii_phone": 1, "pii_card": 1, "pii_examples_changed": 2}
    assert report.n_in == report.n_out == 3 and report.n_dropped == 0


# --------------------------------------------------------------------------- dedupe and cap


def test_dedupe_by_prefix_keeps_first_and_counts():
    examples = [
        sft("Write a poem about the sea.", i=0),
        sft("  write a POEM about the sea!!", i=1),  # same after normalisation
        sft("Write a poem about the sky.", i=2),
        sft("Write a poem about the sea, with rhymes and a long tail", i=3),
    ]
    kept, report = dedupe_by_prefix(examples, prefix_chars=1000)
    assert [e.origin for e in kept] == ["t.jsonl:1", "t.jsonl:3", "t.jsonl:4"]
    assert report.dropped == {"duplicate_prefix": 1}
    kept, report = dedupe_by_prefix(examples, prefix_chars=26)  # "write a poem about the sea"
    assert [e.origin for e in kept] == ["t.jsonl:1", "t.jsonl:3"]
    assert report.dropped == {"duplicate_prefix": 2} and report.n_out == 2


def test_cap_per_user_leaves_users_without_id_uncapped():
    examples = [sft(f"p{i}", user="heavy", i=i) for i in range(5)]
    examples += [sft("q", user="light")] + [sft(f"anon{i}") for i in range(4)]
    kept, report = cap_per_user(examples, max_per_user=2)
    assert [e.prompt for e in kept] == ["p0", "p1", "q", "anon0", "anon1", "anon2", "anon3"]
    assert report.dropped == {"over_user_cap": 3}
    assert report.counts["no_user_id"] == 4 and report.counts["capped_users"] == 1


# --------------------------------------------------------------------------- split by user


def synthetic(n=400, users=60):
    return [sft(f"prompt number {i}", user=f"user{i % users}" if i % 7 else None, i=i) for i in range(n)]


def test_split_by_user_no_user_in_both_splits():
    examples = synthetic()
    train, valid, report = split_by_user(examples, valid_fraction=0.2, seed=1)
    train_users = {e.user_id for e in train} - {None}
    valid_users = {e.user_id for e in valid} - {None}
    assert train_users and valid_users and not train_users & valid_users
    assert len(train) + len(valid) == len(examples) == report.n_out
    assert sorted(e.origin for e in train + valid) == sorted(e.origin for e in examples)
    assert report.counts["no_user_id_train"] + report.counts["no_user_id_valid"] == 58  # i % 7 == 0
    assert report.counts["train_users"] + report.counts["valid_users"] == 60
    assert 0.05 < len(valid) / len(examples) < 0.45


def test_split_by_user_is_deterministic_per_seed_and_order_free():
    examples = synthetic()
    a = split_by_user(examples, 0.25, seed=3)
    b = split_by_user(list(reversed(examples)), 0.25, seed=3)
    assert {e.origin for e in a[1]} == {e.origin for e in b[1]}
    assert split_by_user(examples, 0.25, seed=3)[:2] == a[:2]
    c = split_by_user(examples, 0.25, seed=4)
    assert {e.user_id for e in c[1]} != {e.user_id for e in a[1]}


def test_split_by_user_edges():
    examples = synthetic(50, 10)
    assert split_by_user(examples, 0.0)[1] == [] and split_by_user(examples, 1.0)[0] == []
    with pytest.raises(ValueError, match="valid_fraction"):
        split_by_user(examples, 1.5)


# --------------------------------------------------------------------------- pipeline


def test_run_hygiene_applies_steps_in_order_and_merges_reports():
    examples = [sft("hello a@b.io", user="u"), sft("Hello [EMAIL]", user="u"), sft("other", user="u")]
    # scrub first: the two prompts then normalise alike and one is deduped; the cap drops one more.
    out, report = run_hygiene(examples, ["scrub_pii", "dedupe", "cap_per_user"], max_per_user=1, prefix_chars=50)
    assert [e.prompt for e in out] == ["hello [EMAIL]"]
    assert report.steps == ["scrub_pii", "dedupe", "cap_per_user"]
    assert (report.n_in, report.n_out) == (3, 1)
    assert report.dropped == {"duplicate_prefix": 1, "over_user_cap": 1}
    assert report.counts["pii_email"] == 1
    logged = report.as_dict()
    assert logged["data/hygiene/dropped"] == 2 and logged["data/hygiene/dropped/over_user_cap"] == 1


def test_run_hygiene_rejects_unknown_steps_and_options():
    with pytest.raises(ValueError, match=r"unknown hygiene step\(s\) \['pii'\]"):
        run_hygiene([], ["pii"])
    with pytest.raises(TypeError, match=r"\['max_per_user'\] are taken by none of the steps \['dedupe'\]"):
        run_hygiene([], ["dedupe"], max_per_user=3)
