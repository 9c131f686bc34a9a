"""Progress lines of the pipeline's long python steps (the rankings, the evaluation).

The train stages have Lightning's progress bar (or one line per stage event); a python step such
as the rankings (tens of thousands of samples) or the evaluation printed nothing between its
"running" and "done" lines. :class:`Progress` prints, in the pipeline's ``[pipeline] ...`` style
and flushed (the steps may run in worker processes, whose stdout is a pipe), one line each time
another ~10% of the work is done or ``every_s`` seconds have passed, with the elapsed time and an
estimate of the time left::

    [pipeline] rankings: 10800/36000 samples (30%), 41 s, about 96 s left

A sampling step passes ``progress.advance`` as ``on_batch`` to
:func:`rlhfkit.models.generation.sample_completions`, which calls it after each sampled batch.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable


def say(line: str) -> None:
    """The pipeline's progress line (:func:`rlhfkit.pipeline.executor.say`'s format), flushed."""
    print(f"[pipeline] {line}", flush=True)
    sys.stdout.flush()


def _seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.1f} min"


class Progress:
    """``advance(n)`` after each piece of ``total`` units of work; prints a line at every
    ``fraction`` of the total (10% by default), when ``every_s`` seconds passed since the last
    line, and at the end. ``echo`` prints a line (default: :func:`say`, which adds the
    ``[pipeline]`` prefix); ``clock`` is for tests."""

    def __init__(self, label: str, total: float, unit: str = "", fraction: float = 0.1, every_s: float = 30.0,
                 echo: Callable[[str], None] = say, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.label, self.total, self.unit = label, float(total), unit
        self.fraction, self.every_s, self.echo, self.clock = fraction, float(every_s), echo, clock
        self.done = 0.0
        self.start = self._last = clock()
        self._step = 0  # the last multiple of `fraction` a line was printed at
        self.lines = 0

    def advance(self, n: float = 1, detail: str = "") -> None:
        self.done += n
        now = self.clock()
        share = self.done / self.total if self.total > 0 else 1.0
        step = math.floor(share / self.fraction + 1e-9)
        if step > self._step or now - self._last >= self.every_s or self.done >= self.total:
            self._step, self._last = max(step, self._step), now
            self.echo(self.line(now, detail))
            self.lines += 1

    def line(self, now: float | None = None, detail: str = "") -> str:
        now = self.clock() if now is None else now
        elapsed = now - self.start
        unit = f" {self.unit}" if self.unit else ""
        shown = f"{self.done:g}/{self.total:g}{unit}"
        if self.total > 0:
            shown += f" ({min(self.done / self.total, 1.0):.0%})"
        shown += f", {_seconds(elapsed)}"
        if 0 < self.done < self.total:
            shown += f", about {_seconds(elapsed / self.done * (self.total - self.done))} left"
        return f"{self.label}: {shown}" + (f"; {detail}" if detail else "")


__all__ = ["Progress", "say"]
