"""Shared by the ONNX tests: onnxruntime as the referee, eager outputs flattened."""

from __future__ import annotations

import io

import numpy as np

import yingshe
from yingshe.testing.tolerances import tol


def ort_session(model):
    """An onnxruntime CPU session for a ModelProto or serialized bytes."""
    import onnxruntime as ort
    data = model if isinstance(model, bytes) else model.SerializeToString()
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def ort_run(model, feeds: dict) -> list:
    return ort_session(model).run(None, feeds)


def flat(out) -> list:
    """The tensors of a nested output, as NumPy arrays, in export order (None dropped)."""
    res: list = []

    def walk(o):
        if o is None:
            return
        if isinstance(o, (tuple, list)):
            for e in o:
                walk(e)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        else:
            res.append(np.asarray(o.detach().numpy()))
    walk(out)
    return res


def export_bytes(model, args, **kw) -> bytes:
    buf = io.BytesIO()
    yingshe.onnx.export(model, args, buf, **kw)
    return buf.getvalue()


def assert_close(got, want, what: str, kind: str = "reference") -> None:
    """ONNX Runtime (or a loaded model) against yingshe eager: the cross-library
    tolerance of the output's dtype; shapes and dtypes must be equal."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind == "f":
        rtol, atol = tol(kind, want.dtype)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def eager(model, args) -> list:
    if isinstance(model, yingshe.nn.Module):
        model.eval()
    with yingshe.no_grad():
        return flat(model(*args))
