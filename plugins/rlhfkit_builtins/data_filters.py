"""Built-in data hygiene steps (IG's, RLHF_DETAILS item 5): PII scrubbing, prefix de-duplication,
a cap of prompts per user. Each returns (examples, report dict) so nothing is dropped silently."""

from rlhfkit import hookimpl


class _Step:
    def __init__(self, func, **options) -> None:
        self.func, self.options = func, options

    def __call__(self, examples):
        kept, report = self.func(examples, **self.options)
        return kept, report.as_dict()


def scrub_pii(require_luhn: bool = False):
    """E-mails, phone numbers and card-like digit runs -> [EMAIL], [PHONE], [CARD]."""
    from rlhfkit.data import scrub_examples

    return _Step(scrub_examples, require_luhn=require_luhn)


def dedupe(prefix_chars: int = 200):
    """Keep the first example of each normalised prompt prefix."""
    from rlhfkit.data import dedupe_by_prefix

    return _Step(dedupe_by_prefix, prefix_chars=prefix_chars)


def cap_per_user(max_per_user: int = 200):
    """At most ``max_per_user`` prompts per user id (IG: 200)."""
    from rlhfkit.data import cap_per_user as cap

    return _Step(cap, max_per_user=max_per_user)


@hookimpl
def rlhfkit_data_filters():
    return {"scrub_pii": scrub_pii, "dedupe": dedupe, "cap_per_user": cap_per_user}
