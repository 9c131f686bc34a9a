"""`stage=pretrain`: a base causal LM from plain text (config, builder, batching; the SFT module trains it)."""
