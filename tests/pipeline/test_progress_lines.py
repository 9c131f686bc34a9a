"""Progress lines of the pipeline's python steps (rankings, evaluation): every ~10% or N seconds,
in the ``[pipeline] ...`` style, flushed; counting the sampler's batches changes no sample."""

from __future__ import annotations

from rlhfkit.evaluate.progress import Progress, say
from rlhfkit.models import build_tiny


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_line_every_tenth_and_at_the_end_with_the_time_left():
    lines, clock = [], Clock()
    progress = Progress("rankings", total=100, unit="samples", echo=lines.append, clock=clock)
    for _ in range(50):
        clock.t += 1.0
        progress.advance(2)
    assert len(lines) == 10  # 10%, 20%, ... 100%
    assert lines[0] == "rankings: 10/100 samples (10%), 5 s, about 45 s left"
    assert lines[-1] == "rankings: 100/100 samples (100%), 50 s"


def test_a_slow_step_prints_every_n_seconds_between_tenths():
    lines, clock = [], Clock()
    progress = Progress("evaluate", total=1000, every_s=30, echo=lines.append, clock=clock)
    for _ in range(5):
        clock.t += 31.0
        progress.advance(1, "base_small")
    assert len(lines) == 5 and lines[0].endswith("; base_small") and "31 s" in lines[0]


def test_say_is_the_pipelines_format(capsys):
    say("evaluate: 1/3 steps (33%)")
    assert capsys.readouterr().out == "[pipeline] evaluate: 1/3 steps (33%)\n"


def test_sampling_reports_each_batch_and_changes_no_sample():
    from rlhfkit.models import generation

    bundle = build_tiny("nano", seed=0)
    prompts = [f"prompt {i}" for i in range(10)]
    args = dict(n=3, max_new_tokens=4, batch_size=8, seed=5)
    plain = generation.sample_completions(bundle.model, bundle.tokenizer, prompts, **args)
    lines: list[str] = []
    progress = Progress("rankings", total=30, unit="samples", echo=lines.append)
    counted = generation.sample_completions(bundle.model, bundle.tokenizer, prompts, **args, on_batch=progress.advance)
    assert counted.completions == plain.completions and counted.tokens == plain.tokens
    assert progress.done == 30
    assert lines[-1].startswith("rankings: 30/30 samples (100%)") and len(lines) == 4  # 8, 16, 24, 30 of 30
