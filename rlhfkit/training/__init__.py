"""Glue shared by the stages: optimizers, run directories, loggers, callbacks."""
