"""Top-level TensorFlow 2 names that TF1-era and early TF2 programs use: ``tf.Graph``
(outside ``compat.v1``), ``tf.name_scope``, ``tf.device``, ``tf.TensorSpec``."""

from __future__ import annotations

import contextlib

from yingshe.tf.compat.v1 import Graph  # noqa: F401  (TensorFlow 2 keeps tf.Graph)
from yingshe.tf.data import TensorSpec  # noqa: F401

__all__ = ["Graph", "TensorSpec", "device", "name_scope"]


@contextlib.contextmanager
def name_scope(name, *args, **kwargs):
    """``tf.name_scope(name)``: prefixes graph node names inside (a graph is being built),
    and has no other effect on eager code, as in TensorFlow 2."""
    from yingshe.tf import _core
    if _core.GRAPH_MODE[0]:
        from yingshe import graph
        with graph.name_scope(str(name)):
            yield str(name) + "/"
    else:
        yield str(name) + "/"


@contextlib.contextmanager
def device(device_name):
    """``tf.device("/cpu:0")``: yingshe computes on the CPU; a GPU device is an error
    (TensorFlow would place the ops there)."""
    text = "" if device_name is None else str(device_name).lower()
    if "gpu" in text or "tpu" in text:
        raise RuntimeError(f"tf.device({device_name!r}): yingshe.tf has no GPU/TPU device; "
                           "only the CPU")
    yield
