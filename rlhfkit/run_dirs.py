"""Run directories that never collide: ``${run_id:}`` in ``conf/hydra/default.yaml``.

Hydra names a run's directory by the second it started; two runs started in the same second
shared it (one's ``.hydra/``, ``resolved_config.yaml``, ``metrics.json`` and ``final/`` overwritten
by the other's). The process id makes the name unique per process on a machine. Lightning's DDP
launcher passes the parent's resolved ``hydra.run.dir`` to its children, so every rank of one
run still shares one directory; a multirun sweep keeps one directory per sweep and numbers its
jobs (``hydra.job.num``) inside it.
"""

from __future__ import annotations

import os

from omegaconf import OmegaConf

RESOLVER = "run_id"


def run_id() -> str:
    """This process's part of a run directory's name."""
    return str(os.getpid())


def register_run_id() -> None:
    """Make ``${run_id:}`` resolvable (before Hydra composes; idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, run_id, use_cache=True)


register_run_id()
