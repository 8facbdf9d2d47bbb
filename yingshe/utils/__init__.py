"""Utilities with PyTorch's paths (``yingshe.utils.data``)."""

from yingshe.utils import data  # noqa: F401
