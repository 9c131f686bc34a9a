"""Evaluation: metrics of trained models (reward-model accuracy and labeler agreement, ...)."""
