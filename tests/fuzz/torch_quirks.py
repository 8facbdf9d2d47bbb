"""Where PyTorch accepts a call that yingshe refuses on purpose, because PyTorch's acceptance
is an accident of its implementation: the same call is refused on another of its paths, or
a check is skipped for empty tensors. Each rule names the behaviour, gives the evidence
(run against torch 2.13) and says which yingshe error it excuses; the survey counts these
draws apart ("torch accepts, not sensibly"), with examples.

Rules are about behaviour, never about names (a name yingshe lacks belongs in
``unsupported.py``); each is narrow: the op, the error class and the message yingshe gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import yingshe


@dataclass(frozen=True)
class Quirk:
    name: str
    evidence: str
    applies: Callable   # (step names, yingshe's error, torch's x before the step) -> bool


def _named(names, prefix: str) -> bool:
    return any(n.startswith(prefix) for n in names)


def _empty_output_of_conv_transpose(names, err, x) -> bool:
    m = re.search(r"calculated output size \(([-\d, ]+)\) is too small", str(err))
    return (_named(names, "F.conv_transpose") and isinstance(err, yingshe.ShapeError)
            and m is not None and min(int(v) for v in m.group(1).split(",") if v.strip()) == 0)


QUIRKS = (
    Quirk("einsum of operands of different dtypes",
          "torch.einsum('...a,ab->...a', float32, int64) promotes, but torch.einsum('a,a->', "
          "float32, int64) raises 'expected scalar type Float but found Long': PyTorch "
          "promotes only where its contraction happens to be a broadcast multiply; yingshe "
          "refuses every mix (DTypeError)",
          lambda names, err, x: "einsum" in names and isinstance(err, yingshe.DTypeError)
          and "expected all operands to have the same dtype" in str(err)),
    Quirk("conv_transpose to an output of size 0",
          "conv_transpose1d/2d refuse an output size of 0 for a non-empty batch ('Output size "
          "is too small') yet return it for an empty batch, and conv_transpose3d returns it "
          "for any batch; yingshe refuses it always (ShapeError)",
          _empty_output_of_conv_transpose),
    Quirk("adaptive average pooling of an empty window to size 1",
          "adaptive_avg_pool1d(zeros(2, 0), 2) raises 'Expected input to have non-zero size "
          "for non-batch dimensions', while output size 1 takes a mean() shortcut that skips "
          "the check; yingshe gives the check's error for every output size",
          lambda names, err, x: _named(names, "F.adaptive_avg_pool")
          and isinstance(err, yingshe.ShapeError)
          and "Expected input to have non-zero size" in str(err)),
    Quirk("a dim out of range on an empty tensor",
          "torch.zeros(1, 0, 4, 1).roll(0, 6) returns the tensor, torch.zeros(1, 2, 4, 1)"
          ".roll(0, 6) raises 'Dimension out of range': a check skipped for empty tensors; "
          "yingshe checks the dim whatever the size (IndexError)",
          lambda names, err, x: isinstance(err, yingshe.errors.IndexError)
          and "dimension out of range" in str(err).lower()
          and x is not None and x.numel() == 0),
    Quirk("the softmax family of an empty integer tensor",
          "torch.softmax(zeros(0, 4, 6, dtype=long), 0) and F.softmin(zeros(1, 0, "
          "dtype=int8), 0) return empty integer tensors, while torch.softmax(zeros(2, "
          "dtype=long), 0) raises 'softmax_lastdim_kernel_impl not implemented for Long': "
          "the dtype check is skipped for empty tensors; yingshe refuses an integer input "
          "whatever the size (DTypeError)",
          lambda names, err, x: any(n.split(".")[-1] in ("softmax", "log_softmax", "softmin")
                                    for n in names)
          and isinstance(err, yingshe.DTypeError)
          and "expected a floating-point input" in str(err)
          and x is not None and x.numel() == 0 and not x.is_floating_point()),
)


def quirk_of(names, err, x_before) -> Quirk | None:
    """The rule that excuses yingshe's ``err`` on a step calling ``names``, or None."""
    return next((q for q in QUIRKS if q.applies(names, err, x_before)), None)
