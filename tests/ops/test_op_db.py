"""Generic op tests, generated from the op table (yingshe/testing/op_db)."""

import numpy as np
import pytest

import yingshe
from yingshe.ops import REGISTRY
from yingshe.ops._registry import meta_of
from yingshe.testing import check_second_order, check_vjp
from yingshe.testing.op_db import ALL_CASES, ALL_ERRORS
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

CASE_DTYPES = [(c, d) for c in ALL_CASES for d in c.dtypes]
# Parametrizations that cannot apply are not generated (a skip would read as a pass):
# random ops have no NumPy reference (their statistics are tested by their family's
# tests), and records without differentiable inputs have no gradient to check.
REF_DTYPES = [(c, d) for c, d in CASE_DTYPES if c.ref is not None]


def _inputs(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrays = case.inputs(rng)
    return [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in arrays]


def _to_ys(arrays, diff=(), requires=False):
    return [yingshe.tensor(a, requires_grad=requires and i in diff)
            if isinstance(a, np.ndarray) else a for i, a in enumerate(arrays)]


def _as_list(out):
    from yingshe.ops._shapes import Meta
    if isinstance(out, Meta):
        return [out]
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _np(x):
    if isinstance(x, yingshe.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


@pytest.mark.parametrize("case,dtype", REF_DTYPES,
                         ids=[f"{c.id}-{d}" for c, d in REF_DTYPES])
def test_forward_matches_numpy(case, dtype):
    arrays = _inputs(case, dtype)
    got = _as_list(case.call(yingshe, *_to_ys(arrays)))
    want = _as_list(case.ref(*arrays))
    assert len(got) == len(want)
    rtol, atol = tol("reference", dtype)
    rtol = case.ref_rtol or rtol
    atol = case.ref_atol or atol
    for g, w in zip(got, want):
        g, w = _np(g), np.asarray(w)
        assert g.shape == w.shape, f"{case.id}: shape {g.shape} != NumPy's {w.shape}"
        np.testing.assert_allclose(g.astype(np.float64) if g.dtype.kind == "f" else g, w,
                                   rtol=rtol, atol=atol)


def _calls_of(case):
    """Run the record eagerly, capturing each call of its op: (op, metas, attrs, out)."""
    import sys

    from yingshe.ops import _registry
    arrays = _inputs(case, case.dtypes[0])
    ins = _to_ys(arrays)
    seen = []
    orig = _registry.apply

    def spy(op, *inputs, **attrs):
        out = orig(op, *inputs, **attrs)
        if op.name == case.op:
            seen.append((op, [meta_of(x) for x in inputs], attrs, out))
        return out

    _registry.apply = spy
    patched = []
    for name, mod in list(sys.modules.items()):
        if name.startswith("yingshe") and getattr(mod, "apply", None) is orig:
            mod.apply = spy
            patched.append(mod)
    try:
        case.call(yingshe, *ins)
    finally:
        _registry.apply = orig
        for mod in patched:
            mod.apply = orig
    return seen


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_infer_matches_eager(case):
    """The shape/dtype rule (used to build graphs) agrees with what eager computes."""
    seen = _calls_of(case)
    assert seen, f"{case.id}: the call never reached op '{case.op}'"
    for op, metas, attrs, out in seen:
        inferred = op.infer(*metas, **attrs)
        inferred = _as_list(inferred)
        outs = _as_list(out)
        for m, o in zip(inferred, outs):
            assert tuple(m.shape) == tuple(o.shape), f"{case.id}: infer {m.shape} vs {o.shape}"
            assert m.dtype is o.dtype, f"{case.id}: infer {m.dtype} vs {o.dtype}"


def _has_diff_inputs(case) -> bool:
    return bool(case.diff_inputs(_inputs(case, "float64")))


UNKNOWN_DIM_CASES = [c for c in ALL_CASES if c.meta.get("unknown_dims", True)]


@pytest.mark.parametrize("case", UNKNOWN_DIM_CASES, ids=[c.id for c in UNKNOWN_DIM_CASES])
def test_infer_accepts_unknown_leading_dims(case):
    """Graphs have placeholders of shape (None, ...): every shape rule must accept an
    unknown leading dimension and agree with the eager result on the dims it knows."""
    from yingshe.ops._shapes import Meta
    seen = _calls_of(case)
    for op, metas, attrs, out in seen:
        unknown = [Meta((None,) + tuple(m.shape[1:]), m.dtype)
                   if isinstance(m, Meta) and len(m.shape) else m for m in metas]
        inferred = _as_list(op.infer(*unknown, **attrs))
        for m, o in zip(inferred, _as_list(out)):
            assert len(m.shape) == len(o.shape), f"{case.id}: rank {m.shape} vs {o.shape}"
            for d_inf, d_out in zip(m.shape, o.shape):
                assert d_inf is None or d_inf == d_out, f"{case.id}: {m.shape} vs {o.shape}"
            assert m.dtype is o.dtype


GRAD_CASES = [c for c in ALL_CASES if c.fd and "float64" in c.dtypes and _has_diff_inputs(c)]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.id for c in GRAD_CASES])
def test_vjp_matches_finite_differences(case):
    arrays = _inputs(case, "float64")
    diff = case.diff_inputs(arrays)
    rtol, atol = tol("fd", "float64")
    for seed in range(2):
        check_vjp(lambda *xs: case.call(yingshe, *xs), arrays, diff, seed=seed, eps=case.eps,
                  rtol=case.fd_rtol or rtol, atol=case.fd_atol or atol)


SECOND = [c for c in GRAD_CASES if c.second_order]


@pytest.mark.parametrize("case", SECOND, ids=[c.id for c in SECOND])
def test_second_order(case):
    arrays = _inputs(case, "float64")
    diff = case.diff_inputs(arrays)
    rtol, atol = tol("fd", "float64")
    check_second_order(lambda *xs: case.call(yingshe, *xs), arrays, diff, eps=case.eps,
                       rtol=(case.fd_rtol or rtol) * 10, atol=(case.fd_atol or atol) * 10)


TORCH_CASES = [(c, d) for c, d in CASE_DTYPES if c.torch]


@pytest.mark.parametrize("case,dtype", TORCH_CASES, ids=[f"{c.id}-{d}" for c, d in TORCH_CASES])
def test_matches_torch(case, dtype):
    """Forward values, dtypes and gradients equal PyTorch's from the same inputs."""
    torch = import_torch()
    arrays = _inputs(case, dtype)
    diff = case.diff_inputs(arrays)
    ys_in = _to_ys(arrays, diff, requires=True)
    t_in = [torch.tensor(a, requires_grad=i in diff) if isinstance(a, np.ndarray) else a
            for i, a in enumerate(arrays)]
    ys_out = _as_list(case.call(yingshe, *ys_in))
    t_out = _as_list((case.torch_call or case.call)(torch, *t_in))
    rtol, atol = tol("reference", dtype)
    assert len(ys_out) == len(t_out)
    for y, t in zip(ys_out, t_out):
        if not hasattr(t, "detach"):
            assert y == t
            continue
        tn = t.detach().numpy()
        assert str(y.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], \
            f"{case.id}: dtype {y.dtype} vs torch {t.dtype}"
        assert tuple(y.shape) == tuple(tn.shape)
        if not case.random:
            np.testing.assert_allclose(_np(y), tn, rtol=rtol, atol=atol)
    if not diff or case.random:
        return
    rng = np.random.default_rng(7)
    float_outs = [(y, t) for y, t in zip(ys_out, t_out)
                  if hasattr(t, "detach") and t.dtype.is_floating_point and t.requires_grad]
    if not float_outs:
        return
    us = [rng.standard_normal(tuple(t.shape)).astype(dtype) for _, t in float_outs]
    ys_loss = sum((y * yingshe.tensor(u)).sum() for (y, _), u in zip(float_outs, us))
    t_loss = sum((t * torch.tensor(u)).sum() for (_, t), u in zip(float_outs, us))
    ys_g = yingshe.autograd.grad(ys_loss, [ys_in[i] for i in diff], allow_unused=True)
    t_g = torch.autograd.grad(t_loss, [t_in[i] for i in diff], allow_unused=True)
    for i, yg, tg in zip(diff, ys_g, t_g):
        if tg is None:
            assert yg is None or not np.any(_np(yg)), f"{case.id}: input {i}"
            continue
        assert yg is not None, f"{case.id}: no gradient for input {i}, torch has one"
        np.testing.assert_allclose(_np(yg), tg.numpy(), rtol=rtol, atol=atol * 10,
                                   err_msg=f"{case.id}: gradient of input {i}")


@pytest.mark.parametrize("case", ALL_ERRORS, ids=[c.id for c in ALL_ERRORS])
def test_errors(case):
    arrays = _inputs(case, "float32")
    with pytest.raises(case.exc) as info:
        case.call(yingshe, *_to_ys(arrays))
    assert case.match in str(info.value)
    assert "test_op_db.py" in str(info.value) or "op_db" in str(info.value), \
        "the error names the user's line"


@pytest.mark.parametrize("case", [c for c in ALL_ERRORS if c.torch_exc],
                         ids=[c.id for c in ALL_ERRORS if c.torch_exc])
def test_errors_match_torch_class(case):
    torch = import_torch()
    arrays = _inputs(case, "float32")
    with pytest.raises(case.torch_exc):
        case.call(torch, *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays])
    with pytest.raises(case.torch_exc):
        case.call(yingshe, *_to_ys(arrays))


def test_every_registered_op_has_a_record():
    covered = {c.op for c in ALL_CASES}
    builtin = {name for name in REGISTRY if "." not in name}  # user Functions have dotted names
    missing = sorted(builtin - covered)
    assert not missing, f"ops without an op_db record: {missing}"
