"""`rlhfkit pipeline`: the whole recipe as a DAG of cached stages (docs/pipeline.md).

- :mod:`~rlhfkit.pipeline.cache`: a stage's key (its resolved config + its inputs' keys) and its
  cache directory ``<runs_dir>/cache/<stage>-<key>/`` (DONE written last).
- :mod:`~rlhfkit.pipeline.compose`: each train stage's config, composed from ``conf/config.yaml``
  with ``hydra.compose`` inside the running pipeline app, and the call of the real stage function.
- :mod:`~rlhfkit.pipeline.stages`: the DAG (world -> pretrain -> SFT -> rankings -> RM -> PPO /
  PPO-ptx -> evaluate) and the HH variant.
- :mod:`~rlhfkit.pipeline.run`: runs the DAG in order, one progress line per stage event.
- :mod:`~rlhfkit.pipeline.seeds`: the summary of a ``-m seed=0,1,2`` sweep.
"""
