"""Example rlhfkit plugin: a rule-based politeness reward."""

import torch

from rlhfkit import hookimpl

POLITE = ("please", "thank", "thanks", "kind", "respectfully", "sorry")
RUDE = ("stupid", "idiot", "dumb", "hate", "shut")


class PolitenessReward:
    """+1 per polite word, -2 per rude word, divided by sqrt(words) so length is not rewarded.

    Args:
        polite: words that earn a point.
        rude: words that cost two.
    """

    def __init__(self, polite=POLITE, rude=RUDE):
        self.polite, self.rude = set(polite), set(rude)

    def __call__(self, prompts, completions):
        scores = []
        for text in completions:
            words = [w.strip(".,!?;:").lower() for w in text.split()]
            raw = sum(w in self.polite for w in words) - 2 * sum(w in self.rude for w in words)
            scores.append(raw / max(1, len(words)) ** 0.5)
        return torch.tensor(scores, dtype=torch.float32)


@hookimpl
def rlhfkit_reward_functions():
    return {"politeness": PolitenessReward}
