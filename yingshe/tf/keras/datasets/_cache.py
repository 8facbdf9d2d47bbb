"""Keras' dataset cache: where ``load_data`` looks, and the download when a file is
missing (``yingshe.datasets.files`` does the reading and the fetching)."""

from __future__ import annotations

import os

from yingshe.datasets import files as _files

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def keras_home() -> str:
    """``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` when home is not writable)."""
    env = os.environ.get("KERAS_HOME")
    if env:
        return env
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def datasets_dir(*parts: str) -> str:
    return os.path.join(keras_home(), "datasets", *parts)


def fetch(path: str, urls: list[str], expected: str) -> str:
    """``path`` when it exists; else downloaded there from ``urls``."""
    if os.path.isfile(path):
        return path
    return _files.download(urls, path, None, expected)
