"""Making tensors from Python data and NumPy arrays (``tensor``, ``as_tensor``, ...)."""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor, _wrap
from yingshe.errors import no_out as _no_out
from yingshe.ops._registry import tensor_method

__all__ = ["tensor", "as_tensor", "from_numpy", "asarray"]


def _to_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        arr = data._data
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flat(data)):
            data = _to_nested_py(data)
        try:
            arr = np.asarray(data)
        except ValueError as err:   # NumPy refuses ragged nesting with its own message
            raise ValueError(f"tensor: nested sequences must be rectangular, with the same "
                             f"length at each depth ({err})") from None
    if dtype is not None:
        return arr.astype(_dtype.as_dtype(dtype).np, copy=False)
    if not isinstance(data, (np.ndarray, np.generic, Tensor)):
        # Python data: floats become the default float dtype, ints int64, bools bool.
        if arr.dtype.kind == "f":
            arr = arr.astype(_dtype.get_default_dtype().np)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        elif arr.dtype.kind == "O":
            raise TypeError("tensor: could not infer a dtype from ragged or mixed data; "
                            "nested sequences must be rectangular and numeric")
    _dtype.from_numpy_dtype(arr.dtype)  # raises a clear error for unsupported dtypes
    return arr


def _flat(data):
    for d in data:
        if isinstance(d, (list, tuple)):
            yield from _flat(d)
        else:
            yield d


def _to_nested_py(data):
    if isinstance(data, (list, tuple)):
        return [_to_nested_py(d) for d in data]
    if isinstance(data, Tensor):
        return data._data
    return data


def _check_device(device) -> None:
    if device is not None:
        from yingshe.backend import get
        get(str(getattr(device, "type", device)).split(":")[0])


def tensor(data, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, scalars, arrays, tensors).

    Python floats give float32 (the default dtype), ints int64, bools bool; NumPy
    arrays keep their dtype.

    Example:
        >>> yingshe.tensor([[1., 2.], [3., 4.]], requires_grad=True).sum().backward()
    """
    _check_device(device)
    arr = np.array(_to_array(data, dtype), copy=True)
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array or tensor when it can."""
    _check_device(device)
    if isinstance(data, Tensor) and (dtype is None or data.dtype is _dtype.as_dtype(dtype)):
        return data
    return _wrap(_to_array(data, dtype))


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False) -> Tensor:
    t = tensor(obj, dtype=dtype, device=device) if copy else as_tensor(obj, dtype, device)
    if requires_grad:
        t.requires_grad = True
    return t


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray`` (its dtype is kept)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray, got {type(ndarray).__name__}")
    _dtype.from_numpy_dtype(ndarray.dtype)
    return _wrap(ndarray)


# ---- factories ---------------------------------------------------------------------------
# Shapes are given as f(2, 3), f((2, 3)), f([2, 3]) or f(size=(2, 3)); float factories use
# the default dtype. Non-random factories make constants; random ones go through the
# registered random ops (yingshe/ops/random_ops.py), which draw from yingshe.random.

import builtins as _builtins  # noqa: E402
import math as _math  # noqa: E402

__all__ += ["zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like",
            "empty_like", "rand", "randn", "randint", "randperm", "rand_like", "randn_like",
            "randint_like", "normal", "bernoulli", "multinomial", "arange", "linspace",
            "logspace", "eye", "manual_seed", "seed", "initial_seed", "get_rng_state",
            "set_rng_state", "Generator", "default_generator"]

from yingshe.random import (  # noqa: E402
    Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed,
    set_rng_state,
)


def _shape(opname: str, args, size) -> tuple[int, ...]:
    if size is not None:
        if args:
            raise TypeError(f"{opname}: got the size both positionally and as size=")
        args = (size,)
    if not args:
        raise TypeError(f'{opname}() missing 1 required positional argument: "size"')
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    elif len(args) == 1 and isinstance(args[0], Tensor) and args[0].ndim == 1:
        args = tuple(args[0].tolist())
    shape = []
    for d in args:
        if isinstance(d, _builtins.bool) or not hasattr(d, "__index__"):
            raise TypeError(f"{opname}(): argument 'size' must be a tuple of ints, but found "
                            f"an element of type {type(d).__name__}")
        d = d.__index__()
        if d < 0:
            raise RuntimeError(f"{opname}: trying to create tensor with negative dimension "
                               f"{d}: {list(args)}")
        shape.append(d)
    return tuple(shape)


def _finish(arr: np.ndarray, requires_grad: bool, device) -> Tensor:
    _check_device(device)
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def _float_dtype(opname: str, dtype) -> _dtype.dtype:
    dt = _dtype.get_default_dtype() if dtype is None else _dtype.as_dtype(dtype)
    return dt


def _require_float(opname: str, dt: _dtype.dtype) -> None:
    if not dt.is_floating_point:
        from yingshe.errors import DTypeError
        raise DTypeError(f"{opname}: expected a floating-point dtype, got {dt}")


def zeros(*sizes, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, memory_format=None) -> Tensor:
    """A tensor of zeros of the given size (default float dtype)."""
    _no_out(out, "zeros")
    shape = _shape("zeros", sizes, size)
    return _finish(np.zeros(shape, _float_dtype("zeros", dtype).np), requires_grad, device)


def ones(*sizes, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
         pin_memory=False, memory_format=None) -> Tensor:
    """A tensor of ones of the given size (default float dtype)."""
    _no_out(out, "ones")
    shape = _shape("ones", sizes, size)
    return _finish(np.ones(shape, _float_dtype("ones", dtype).np), requires_grad, device)


def empty(*sizes, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, memory_format=None) -> Tensor:
    """An "uninitialised" tensor; yingshe fills it with zeros (deterministic)."""
    _no_out(out, "empty")
    shape = _shape("empty", sizes, size)
    return _finish(np.zeros(shape, _float_dtype("empty", dtype).np), requires_grad, device)


def _scalar_dtype(value) -> _dtype.dtype:
    if isinstance(value, Tensor):
        return value.dtype
    if isinstance(value, (np.generic, np.ndarray)):
        return _dtype.from_numpy_dtype(np.asarray(value).dtype)
    if isinstance(value, _builtins.bool):
        return _dtype.bool
    if isinstance(value, _builtins.int):
        return _dtype.int64
    return _dtype.get_default_dtype()


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value
    (bool, int64 or the default float) unless given."""
    _no_out(out, "full")
    shape = _shape("full", (size,), None)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if not isinstance(fill_value, (_builtins.bool, _builtins.int, _builtins.float, np.number,
                                   np.bool_)):
        raise TypeError(f"full(): argument 'fill_value' must be a number, not "
                        f"{type(fill_value).__name__}")
    dt = _scalar_dtype(fill_value) if dtype is None else _dtype.as_dtype(dtype)
    return _finish(np.full(shape, fill_value, dtype=dt.np), requires_grad, device)


def _like_dtype(input: Tensor, dtype) -> _dtype.dtype:
    return input.dtype if dtype is None else _dtype.as_dtype(dtype)


def zeros_like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None) -> Tensor:
    return _finish(np.zeros(input.shape, _like_dtype(input, dtype).np), requires_grad, device)


def ones_like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None) -> Tensor:
    return _finish(np.ones(input.shape, _like_dtype(input, dtype).np), requires_grad, device)


def empty_like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None) -> Tensor:
    return _finish(np.zeros(input.shape, _like_dtype(input, dtype).np), requires_grad, device)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None) -> Tensor:
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _finish(np.full(input.shape, fill_value, _like_dtype(input, dtype).np),
                   requires_grad, device)


# ---- ranges --------------------------------------------------------------------------------

def _num(x):
    if isinstance(x, Tensor):
        return x.item()
    if isinstance(x, np.generic):
        return x.item()
    return x


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``: int64 when all three are
    integers, else the default float dtype (PyTorch's rule). ``arange(n)`` is 0..n-1."""
    _no_out(out, "arange")
    if end is None:
        start, end = 0, start
    start, end, step = _num(start), _num(end), _num(step)
    for v in (start, end, step):
        if not isinstance(v, (_builtins.int, _builtins.float)):
            raise TypeError(f"arange: expected numbers, got {type(v).__name__}")
        if isinstance(v, _builtins.float) and not _math.isfinite(v):
            raise RuntimeError(f"arange: unsupported range: {start} -> {end}")
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("arange: upper bound and lower bound inconsistent with step sign")
    if dtype is None:
        all_int = all(isinstance(v, _builtins.int) for v in (start, end, step))
        dt = _dtype.int64 if all_int else _dtype.get_default_dtype()
    else:
        dt = _dtype.as_dtype(dtype)
    if all(isinstance(v, _builtins.int) for v in (start, end, step)):
        n = max(0, -((start - end) // step))   # exact integer ceil
        arr = (start + step * np.arange(n, dtype=np.int64)).astype(dt.np)
    else:
        n = max(0, _math.ceil((end - start) / step))
        arr = (start + step * np.arange(n, dtype=np.float64)).astype(dt.np)
    return _finish(arr, requires_grad, device)


def _linspace64(start: float, end: float, steps: int) -> np.ndarray:
    """PyTorch's symmetric formula: the first half counts up from ``start``, the second
    half down from ``end``, so both ends are exact."""
    if steps == 1:
        return np.array([start], dtype=np.float64)
    idx = np.arange(steps, dtype=np.float64)
    step = (end - start) / (steps - 1)
    half = steps // 2
    return np.where(idx < half, start + step * idx, end - step * (steps - 1 - idx))


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    _no_out(out, "linspace")
    start, end, steps = _num(start), _num(end), _num(steps)
    if not isinstance(steps, _builtins.int) or isinstance(steps, _builtins.bool) or steps < 0:
        raise RuntimeError(f"linspace: number of steps must be a non-negative int, got {steps}")
    dt = _float_dtype("linspace", dtype)
    arr = _linspace64(float(start), float(end), steps) if steps else np.zeros(0)
    return _finish(arr.astype(dt.np), requires_grad, device)


def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    _no_out(out, "logspace")
    start, end, steps = _num(start), _num(end), _num(steps)
    if not isinstance(steps, _builtins.int) or isinstance(steps, _builtins.bool) or steps < 0:
        raise RuntimeError(f"logspace: number of steps must be a non-negative int, got {steps}")
    dt = _float_dtype("logspace", dtype)
    exps = _linspace64(float(start), float(end), steps) if steps else np.zeros(0)
    return _finish(np.power(float(base), exps).astype(dt.np), requires_grad, device)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None,
        requires_grad=False) -> Tensor:
    """The ``n`` x ``m`` identity matrix (``m`` defaults to ``n``)."""
    _no_out(out, "eye")
    n = _num(n)
    m = n if m is None else _num(m)
    for v, what in ((n, "n"), (m, "m")):
        if not isinstance(v, _builtins.int) or v < 0:
            raise RuntimeError(f"eye: {what} must be greater or equal to 0, got {v}")
    return _finish(np.eye(n, m, dtype=_float_dtype("eye", dtype).np), requires_grad, device)


# ---- random factories --------------------------------------------------------------------

def _random(opname: str, op, requires_grad: bool, device, *inputs, **attrs) -> Tensor:
    from yingshe.ops._registry import apply
    _check_device(device)
    t = apply(op, *inputs, **attrs)
    if requires_grad:
        t.requires_grad = True
    return t


def rand(*sizes, size=None, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False) -> Tensor:
    """Uniform samples in [0, 1) from ``generator`` (default: the default generator)."""
    _no_out(out, "rand")
    from yingshe.ops.random_ops import Uniform
    shape = _shape("rand", sizes, size)
    dt = _float_dtype("rand", dtype)
    _require_float("rand", dt)
    return _random("rand", Uniform, requires_grad, device, shape=shape, dtype=dt, low=0.0,
                   high=1.0, generator=generator)


def randn(*sizes, size=None, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad=False, pin_memory=False) -> Tensor:
    """Standard normal samples from ``generator`` (default: the default generator)."""
    _no_out(out, "randn")
    from yingshe.ops.random_ops import Normal
    shape = _shape("randn", sizes, size)
    dt = _float_dtype("randn", dtype)
    _require_float("randn", dt)
    return _random("randn", Normal, requires_grad, device, 0.0, 1.0, shape=shape, dtype=dt,
                   generator=generator)


def _randint_args(opname: str, args, low, high, size):
    """Parse PyTorch's ``(low=0, high, size)`` positional overloads."""
    args = list(args)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if high is None:
        if len(args) == 2:
            low, high = args
        elif len(args) == 1:
            high = args[0]
        else:
            raise TypeError(f"{opname}() expects (low=0, high, size), got {len(args)} "
                            "positional numbers")
    elif args:
        low = args[0]
    return _num(low if low is not None else 0), _num(high), size


def randint(*args, low=None, high=None, size=None, generator=None, out=None, dtype=None,
            layout=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers uniform in
    [low, high) (int64 unless ``dtype`` says otherwise)."""
    _no_out(out, "randint")
    from yingshe.ops.random_ops import RandInt
    low, high, size = _randint_args("randint", args, low, high, size)
    if size is None:
        raise TypeError('randint() missing 1 required positional argument: "size"')
    shape = _shape("randint", (size,), None)
    if not low < high:
        raise RuntimeError(f"randint: random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    dt = _dtype.int64 if dtype is None else _dtype.as_dtype(dtype)
    return _random("randint", RandInt, requires_grad, device, low=int(low), high=int(high),
                   shape=shape, dtype=dt, generator=generator)


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad=False, pin_memory=False) -> Tensor:
    """A random permutation of the integers 0..n-1 (int64)."""
    _no_out(out, "randperm")
    from yingshe.ops.random_ops import RandPerm
    n = _num(n)
    if not isinstance(n, _builtins.int) or n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    dt = _dtype.int64 if dtype is None else _dtype.as_dtype(dtype)
    return _random("randperm", RandPerm, requires_grad, device, n=n, dtype=dt,
                   generator=generator)


def rand_like(input, *, generator=None, dtype=None, layout=None, device=None,
              requires_grad=False, memory_format=None) -> Tensor:
    dt = _like_dtype(input, dtype)
    _require_float("rand_like", dt)
    return rand(tuple(input.shape), generator=generator, dtype=dt, device=device,
                requires_grad=requires_grad)


def randn_like(input, *, generator=None, dtype=None, layout=None, device=None,
               requires_grad=False, memory_format=None) -> Tensor:
    dt = _like_dtype(input, dtype)
    _require_float("randn_like", dt)
    return randn(tuple(input.shape), generator=generator, dtype=dt, device=device,
                 requires_grad=requires_grad)


def randint_like(input, *args, low=None, high=None, generator=None, dtype=None, layout=None,
                 device=None, requires_grad=False, memory_format=None) -> Tensor:
    """``randint_like(input, high)`` or ``randint_like(input, low, high)``."""
    low, high, _ = _randint_args("randint_like", args, low, high, ())
    return randint(low, high, tuple(input.shape), generator=generator,
                   dtype=_like_dtype(input, dtype), device=device, requires_grad=requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None,
           layout=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """Normal samples with the given ``mean`` and ``std`` (numbers or tensors, broadcast
    together); with two numbers, ``size`` is required (PyTorch's overloads).

    Not differentiable with respect to ``mean``/``std``: write ``mean + std *
    yingshe.randn_like(mean)`` for a reparameterised sample.
    """
    _no_out(out, "normal")
    from yingshe.ops.random_ops import Normal
    from yingshe.ops._shapes import broadcast_shapes
    mean, std = (_num(m) if isinstance(m, np.generic) else m for m in (mean, std))
    tensors = [x for x in (mean, std) if isinstance(x, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal(mean, std) with two numbers needs a size "
                            "(normal(mean, std, size))")
        shape = _shape("normal", (size,), None)
        dt = _float_dtype("normal", dtype)
    else:
        if size is not None:
            raise TypeError("normal: size= is only accepted when mean and std are numbers")
        shape = broadcast_shapes("normal", *(t.shape for t in tensors))
        dt = tensors[0].dtype if len(tensors) == 1 else _dtype.promote_types(
            tensors[0].dtype, tensors[1].dtype)
        if dtype is not None:
            dt = _dtype.as_dtype(dtype)
    _require_float("normal", dt)
    if isinstance(std, Tensor):
        if std._data is not None and std._data.size and not (std._data >= 0).all():
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _random("normal", Normal, requires_grad, device, mean, std, shape=shape, dtype=dt,
                   generator=generator)


@tensor_method
def bernoulli(input, p=None, *, generator=None, out=None) -> Tensor:
    """1 with probability ``input`` (elementwise; or the number ``p``), else 0, in the
    input's dtype."""
    _no_out(out, "bernoulli")
    from yingshe.ops.random_ops import Bernoulli
    from yingshe.ops._registry import apply
    if not input.dtype.is_floating_point:
        from yingshe.errors import DTypeError
        raise DTypeError(f"bernoulli: expected a floating-point input, got {input.dtype}")
    probs = input._data if p is None else np.asarray(p)
    if probs is not None and probs.size and not ((probs >= 0) & (probs <= 1)).all():
        raise RuntimeError("bernoulli: expected 0 <= p <= 1 for every probability")
    return apply(Bernoulli, input, p=None if p is None else float(p), generator=generator)


@tensor_method
def multinomial(input, num_samples, replacement=False, *, generator=None, out=None) -> Tensor:
    """``num_samples`` indices per row drawn from the (unnormalised) probabilities in the
    rows of ``input`` (1-d or 2-d), with or without replacement."""
    _no_out(out, "multinomial")
    from yingshe.ops.random_ops import Multinomial
    from yingshe.ops._registry import apply
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got {input.ndim}")
    if not input.dtype.is_floating_point:
        from yingshe.errors import DTypeError
        raise DTypeError(f"multinomial: expected a floating-point input, got {input.dtype}")
    num_samples = _num(num_samples)
    if not isinstance(num_samples, _builtins.int) or num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample {num_samples} (<= 0) samples")
    n = input.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                           f"without replacement ({num_samples} > {n})")
    data = input._data
    if data is not None:
        rows = data.reshape(-1, n)
        if not np.isfinite(rows).all() or (rows < 0).any():
            raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` "
                               "or element < 0")
        if (rows.sum(axis=1) <= 0).any():
            raise RuntimeError("multinomial: invalid multinomial distribution (sum of "
                               "probabilities <= 0)")
    return apply(Multinomial, input, num_samples=num_samples, replacement=bool(replacement),
                 generator=generator)

