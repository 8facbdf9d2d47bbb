"""The numba layer: backend policy, the kernel cache, kernels from scalar formulas."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from yingshe.backend import jit


def _require_numba():
    if not jit.available():
        if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1":
            pytest.fail("numba is required in CI (the jit extra) but cannot be imported")
        pytest.skip("numba is not installed")


def axpy_relu(x, y, a):
    """A module-level scalar formula: max(a*x + y, 0)."""
    t = a * x + y
    return t if t > 0.0 else 0.0


def scaled(x, factor, negate):  # numba takes keyword calls, not keyword-only parameters
    return -x * factor if negate else x * factor


def two_outputs(x, y):
    return x + y, math.exp(x) * y


def test_policy_numpy_is_always_available(monkeypatch):
    assert jit.resolve_backend("numpy") == "numpy"
    with pytest.raises(ValueError, match="unknown backend"):
        jit.resolve_backend("cuda")
    with pytest.raises(ValueError, match="unknown backend"):
        jit.set_default_backend("fast")


def test_policy_without_numba(monkeypatch):
    monkeypatch.setattr(jit, "_numba", [None])
    monkeypatch.delenv("YINGSHE_REQUIRE_NUMBA", raising=False)
    assert jit.resolve_backend(None) == "numpy"          # the default falls back quietly
    with pytest.raises(jit.BackendUnavailable, match=r"yingshe\[jit\]"):
        jit.resolve_backend("numba")                     # an explicit request does not
    monkeypatch.setenv("YINGSHE_REQUIRE_NUMBA", "1")
    with pytest.raises(jit.BackendUnavailable, match="YINGSHE_REQUIRE_NUMBA"):
        jit.resolve_backend(None)                        # nor does CI's flag


def test_default_backend_roundtrip(monkeypatch):
    monkeypatch.setattr(jit, "_default", [None])
    jit.set_default_backend("numpy")
    assert jit.get_default_backend() == "numpy"
    jit.set_default_backend(None)
    assert jit.get_default_backend() == ("numba" if jit.available() else "numpy")


def test_load_source_writes_once_and_reuses(tmp_path, monkeypatch):
    monkeypatch.setenv("YINGSHE_CACHE_DIR", str(tmp_path))
    src = "VALUE = 41 + 1\n"
    mod = jit.load_source(src, "probe")
    assert mod.VALUE == 42
    files = [f for f in os.listdir(tmp_path) if f.endswith(".py")]
    assert len(files) == 1 and files[0].startswith("yingshe_probe_")
    assert jit.load_source(src, "probe") is mod          # cached in-process
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_import_yingshe_does_not_import_numba():
    code = "import sys, yingshe; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_elementwise_kernel_matches_numpy(tmp_path, monkeypatch):
    _require_numba()
    monkeypatch.setenv("YINGSHE_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(1000), rng.standard_normal(1000)
    k = jit.elementwise_kernel(axpy_relu, (True, True, False), 1)
    out = np.empty_like(x)
    k(x, y, 0.5, out)
    np.testing.assert_array_equal(out, np.maximum(0.5 * x + y, 0.0))
    k2 = jit.elementwise_kernel(two_outputs, (True, True), 2)
    o0, o1 = np.empty_like(x), np.empty_like(x)
    k2(x, y, o0, o1)
    np.testing.assert_array_equal(o0, x + y)
    np.testing.assert_allclose(o1, np.exp(x) * y, rtol=1e-15)
    # in place: an output may be an input
    expected = np.maximum(2.0 * x + y, 0.0)
    k(x, y, 2.0, x)
    np.testing.assert_array_equal(x, expected)


def test_elementwise_kernel_attrs_are_constants(tmp_path, monkeypatch):
    _require_numba()
    monkeypatch.setenv("YINGSHE_CACHE_DIR", str(tmp_path))
    x = np.arange(5.0)
    out = np.empty_like(x)
    jit.elementwise_kernel(scaled, (True,), 1, attrs={"factor": 3.0, "negate": True})(x, out)
    np.testing.assert_array_equal(out, -3.0 * x)
    jit.elementwise_kernel(scaled, (True,), 1, attrs={"factor": 2.0, "negate": False})(x, out)
    np.testing.assert_array_equal(out, 2.0 * x)
    with pytest.raises(TypeError, match="kernel attribute"):
        jit.elementwise_kernel(scaled, (True,), 1, attrs={"factor": [1], "negate": False})


def test_registered_scalar_formula_is_kept():
    from yingshe.ops._registry import REGISTRY
    # every op that declares a formula gets it on its OpDef, as a plain function
    for op in REGISTRY.values():
        assert op.scalar is None or callable(op.scalar)


def test_elementwise_kernel_refuses_local_functions():
    _require_numba()

    def local(x):
        return x

    with pytest.raises(ValueError, match="module-level"):
        jit.elementwise_kernel(local, (True,), 1)


def scaled_shift(x, a):
    """A formula with literals: in float32 NumPy rounds after each operation."""
    return (x * 0.1 + a) * 3 - 1.0


def test_elementwise_kernel_dtype_computes_in_that_type(tmp_path, monkeypatch):
    """dtype="float32": the formula's constants and number inputs are float32, so the
    kernel does NumPy's float32 arithmetic (bit for bit here); without it, numba computes
    the float64 constants in float64 and rounds once, which differs."""
    _require_numba()
    monkeypatch.setenv("YINGSHE_CACHE_DIR", str(tmp_path))
    x = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    want = (x * 0.1 + np.float32(0.7)) * 3 - 1.0     # NumPy 2: Python floats are weak
    assert want.dtype == np.float32
    out = np.empty_like(x)
    jit.elementwise_kernel(scaled_shift, (True, False), 1, dtype="float32")(x, 0.7, out)
    np.testing.assert_array_equal(out, want)
    wide = np.empty_like(x)
    jit.elementwise_kernel(scaled_shift, (True, False), 1)(x, 0.7, wide)
    assert not np.array_equal(wide, want)             # float64 arithmetic, rounded once
    np.testing.assert_allclose(wide, want, rtol=1e-6, atol=1e-6)
    out64 = np.empty(x.shape)
    jit.elementwise_kernel(scaled_shift, (True, False), 1, dtype="float64")(
        x.astype(np.float64), 0.7, out64)
    np.testing.assert_array_equal(out64, (x.astype(np.float64) * 0.1 + 0.7) * 3 - 1.0)
    with pytest.raises(ValueError, match="dtype"):
        jit.elementwise_kernel(scaled_shift, (True, False), 1, dtype="int8")


def test_elementwise_kernel_numpy_error_model(tmp_path, monkeypatch):
    """Division by zero gives inf/NaN as NumPy does (the default error model)."""
    _require_numba()
    monkeypatch.setenv("YINGSHE_CACHE_DIR", str(tmp_path))
    out = np.empty(3)
    k = jit.elementwise_kernel(reciprocal, (True,), 1)
    k(np.array([0.0, 2.0, -0.0]), out)
    np.testing.assert_array_equal(out, [np.inf, 0.5, -np.inf])
    with pytest.raises(ValueError, match="error_model"):
        jit.elementwise_kernel(reciprocal, (True,), 1, error_model="c")


def reciprocal(x):
    return 1.0 / x
