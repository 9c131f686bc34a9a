"""`stage=sft`: supervised fine-tuning on demonstrations (module, config, builder, batching)."""
