"""`stage=rm`: the reward model on K-way rankings (module, config, builder, batching, metrics,
normalisation, report)."""
