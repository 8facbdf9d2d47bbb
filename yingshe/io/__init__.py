"""Checkpoints (safetensors, never pickle) and other file formats."""

from yingshe.io.checkpoint import CheckpointError, load, save  # noqa: F401
