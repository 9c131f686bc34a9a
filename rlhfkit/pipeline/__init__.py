"""`rlhfkit pipeline`: the whole recipe as a DAG of cached stages (docs/pipeline.md).

- :mod:`~rlhfkit.pipeline.cache`: a stage's key (its resolved config + its inputs' keys) and its
  cache directory ``<runs_dir>/cache/<stage>-<key>/`` (DONE written last).
- :mod:`~rlhfkit.pipeline.compose`: each train stage's config, composed from ``conf/config.yaml``
  with ``hydra.compose`` inside the running pipeline app, and the call of the real stage function.
- :mod:`~rlhfkit.pipeline.stage_graph`: a node per stage and the context it sees.
- :mod:`~rlhfkit.pipeline.world_recipe`: the default DAG (world -> pretrain -> SFT -> rankings -> RM
  -> PPO / PPO-ptx -> evaluate); :mod:`~rlhfkit.pipeline.hh_recipe`: the HH variant;
  :mod:`~rlhfkit.pipeline.recipes`: picks one by ``recipe:``.
- :mod:`~rlhfkit.pipeline.world_data`: the world's data files and the rankings step.
- :mod:`~rlhfkit.pipeline.executor`: runs the DAG in order (or stages side by side), one progress
  line per stage event; :mod:`~rlhfkit.pipeline.main`: the command, its report and wall time.
- :mod:`~rlhfkit.pipeline.accounting`: compute (FLOPs) and wall time per stage.
- :mod:`~rlhfkit.pipeline.seeds`: the summary of a ``-m seed=0,1,2`` sweep.
"""
