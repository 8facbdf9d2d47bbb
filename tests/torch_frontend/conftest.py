"""The real torchvision as a test oracle.

torchvision 0.28.0 is installed ``--no-deps`` beside a CPU build of torch, and its import
fails there: ``torchvision/_meta_registrations.py`` registers fake kernels for
``torchvision::nms``/``qnms``, operators that its C extension (which does not load with
this torch) would have defined ("operator torchvision::nms does not exist"). Before the
import, ``import_torchvision`` defines those two operator schemas with ``torch.library``;
nothing of torchvision's pure-Python datasets, transforms and utils (the oracles of
``test_torchvision.py``) depends on them. Tests only: yingshe never imports torchvision.
"""

from __future__ import annotations

import sys

import pytest

from yingshe.testing.reference import require


def import_torchvision():
    """The real torchvision (skipped locally, failing in CI when it is missing)."""
    torch = require("torch")
    if "torchvision" not in sys.modules and "_test_torchvision_ops" not in sys.modules:
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        sys.modules["_test_torchvision_ops"] = lib        # keep the definitions alive
    tv = require("torchvision")
    assert tv.__version__.startswith("0.28.0"), tv.__version__
    return tv


@pytest.fixture(scope="module")
def tv():
    return import_torchvision()
