"""`stage=ppo` / `stage=ppo_ptx`: PPO against a reward function (module, config, builder, rollout,
prompt and pretraining-text streams)."""
