"""N-d pooling kernels on channel-first NumPy arrays (``max_pool1d/2d/3d`` and
``avg_pool1d/2d/3d`` in ``nn.py`` and ``conv3d.py`` are thin op blocks over these).

Max pooling keeps, per output, the *window position* of its maximum (``arg``: 0 ..
prod(kernel) - 1, int8 for kernels of fewer than 128 elements) rather than a flat
index into the input: the forward never does int64 index arithmetic (the flat indices
that ``return_indices`` asks for are derived from it on request), and the backward is
one masked pass per kernel position (``dx[window p] = g & (arg == p ? ~0 : 0)``, an
exact bit mask) instead of a scatter-add over every element. Both walk the kernel positions as whole-array strided
views; tiling windows (kernel == stride, no padding or dilation) are a reshape of the
input, needing no padded copy.

With the ``jit`` extra, 2-D tiling windows (``max_pool2d(x, 2)``) take one numba loop
forward and one backward instead (``yingshe.ops._numba_kernels``), same rules; 3-D tiling
windows take numba's loop backward (their forward stays NumPy's: measured 0.56x PyTorch's
time).

Rules (PyTorch's, on the CPU): the first maximum of a window wins; a window holding NaN
gives NaN and the position of its *last* NaN; padding never wins (it is -inf, or the
integer minimum).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["max_pool", "max_pool_backward", "max_pool_gather", "flat_indices", "avg_pool",
           "avg_pool_backward", "pool_out_size", "geometry"]


def pool_out_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape."""
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    o = num // s + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def geometry(shape, kernel, stride, padding, dilation, ceil_mode):
    """Output sizes and per dim the (lo, hi) padding that puts every window in range
    (ceil_mode windows may run past the padded input). Bad geometry raises ValueError
    (the op's shape rule then names it)."""
    out, pads = [], []
    for i, (k, s, p, d) in enumerate(zip(kernel, stride, padding, dilation)):
        n = shape[2 + i]
        o = pool_out_size(n, k, s, p, d, ceil_mode)
        if 2 * p > k or o <= 0:
            raise ValueError(f"pooling: kernel {kernel}, padding {padding} does not fit the "
                             f"input {tuple(shape)}")
        out.append(o)
        pads.append((p, p + max((o - 1) * s + d * (k - 1) + 1 - (n + 2 * p), 0)))
    return tuple(out), tuple(pads)


def _tiling(kernel, stride, dilation, pads) -> bool:
    return (tuple(stride) == tuple(kernel) and all(d == 1 for d in dilation)
            and not any(lo or hi for lo, hi in pads))


def _padded(x, pads, fill):
    if not any(lo or hi for lo, hi in pads):
        return x
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
    out = np.full(shape, fill, dtype=x.dtype)
    out[(slice(None),) * 2 + tuple(slice(lo, lo + n)
                                   for n, (lo, _) in zip(x.shape[2:], pads))] = x
    return out


def _numba(a, kernel, tiling, dims=(2,)):
    """The numba kernels when they serve this call (tiling windows of ``dims`` spatial
    dims over float32 or float64, the ``jit`` extra installed and chosen), else None."""
    if not tiling or len(kernel) not in dims or a.dtype not in (np.float32, np.float64):
        return None
    from yingshe.ops._numba_kernels import kernels
    return kernels()


def _views(a, kernel, stride, dilation, out, tiling):
    """One (N, C, *out) view of ``a`` (N, C, *spatial) per kernel position (row-major over
    the kernel): what that position reads in every window, or where it writes."""
    if tiling:    # a reshape: (N, C, o0, k0, o1, k1, ...)
        v = a[(slice(None),) * 2 + tuple(slice(0, o * k) for o, k in zip(out, kernel))]
        v = v.reshape(a.shape[:2] + tuple(x for o, k in zip(out, kernel) for x in (o, k)))
        return [v[(slice(None),) * 2 + tuple(x for j in pos for x in (slice(None), j))]
                for pos in np.ndindex(*kernel)]
    return [a[(slice(None),) * 2 + tuple(slice(p * d, p * d + (o - 1) * s + 1, s)
                                         for p, d, o, s in zip(pos, dilation, out, stride))]
            for pos in np.ndindex(*kernel)]


def _maybe_nan(a) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isnan(np.add.reduce(a, axis=None)))


def _arg_dtype(kernel):
    k = math.prod(kernel)
    return np.int8 if k < 128 else (np.int16 if k < 32768 else np.int64)


def max_pool(x, kernel, stride, padding, dilation, ceil_mode):
    """(values, window position of the maximum) over every window of x (N, C, *sp)."""
    out, pads = geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
    shape = x.shape[:2] + out
    argt = _arg_dtype(kernel)
    if 0 in shape:
        return np.empty(shape, dtype=x.dtype), np.zeros(shape, dtype=argt)
    tiling = _tiling(kernel, stride, dilation, pads)
    nb = _numba(x, kernel, tiling)
    if nb is not None:
        val, arg = np.empty(shape, dtype=x.dtype), np.empty(shape, dtype=argt)
        nb["max_pool_tiling"](np.ascontiguousarray(x), *kernel, val, arg)
        return val, arg
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    src = x if tiling else _padded(x, pads, fill)
    cands = _views(src, kernel, stride, dilation, out, tiling)
    val = np.array(cands[0], copy=True)
    for c in cands[1:]:
        np.maximum(val, c, out=val)        # NaN propagates
    # the position of the first maximum = the number of leading candidates that miss it
    # (whole-array compares; masked stores with a random mask are several times slower)
    if len(cands) == 1:
        arg = np.zeros(shape, dtype=argt)
    else:
        miss = np.not_equal(cands[0], val)
        arg = miss.astype(argt)
        for c in cands[1:-1]:
            np.logical_and(miss, np.not_equal(c, val), out=miss)
            arg += miss
    # one summing pass tells whether any value is NaN (inf - inf also reads as NaN, which
    # only costs the exact pass below)
    if x.dtype.kind == "f" and _maybe_nan(val):
        nan = np.isnan(val)
        for k, c in enumerate(cands):      # walking forward: the last NaN wins
            np.copyto(arg, argt(k), where=nan & np.isnan(c))
    return val, arg


def _bits(a):
    """``a`` viewed as unsigned integers of its width (for exact masking by AND)."""
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))


def _keep(arg, k, bits):
    """All ones where ``arg == k``, zeros elsewhere (``bits`` wide): ``g & keep`` is g
    there and +0.0 elsewhere, exactly (inf and NaN included, where ``g * mask`` would make
    0 * inf = NaN), and several times faster than a masked store with a random mask."""
    return np.subtract(np.not_equal(arg, k), 1, dtype=bits)


def max_pool_backward(g, arg, input_shape, kernel, stride, padding, dilation, ceil_mode):
    """The gradient of ``max_pool``'s values: each g lands on its window's maximum
    (overlapping windows accumulate)."""
    out, pads = geometry(input_shape, kernel, stride, padding, dilation, ceil_mode)
    tiling = _tiling(kernel, stride, dilation, pads)
    padded = input_shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(input_shape[2:], pads))
    covered = tiling and all(o * k == n for o, k, n in zip(out, kernel, input_shape[2:]))
    # tiling windows that cover the input write every element once: no zeroing needed
    buf = np.empty(padded, dtype=g.dtype) if covered and g.size else np.zeros(padded, g.dtype)
    nb = _numba(g, kernel, tiling, dims=(2, 3)) if g.size else None
    if nb is not None:
        dst = buf[(slice(None),) * 2 + tuple(slice(0, o * k) for o, k in zip(out, kernel))]
        name = "max_pool_tiling_backward" + ("_3d" if len(kernel) == 3 else "")
        nb[name](np.ascontiguousarray(g), np.ascontiguousarray(arg), *kernel, dst)
        return buf
    if g.size:
        gb = _bits(g)
        for k, v in enumerate(_views(buf, kernel, stride, dilation, out, tiling)):
            keep = _keep(arg, k, gb.dtype)
            if tiling:     # disjoint windows: a store
                np.bitwise_and(gb, keep, out=_bits(v))
            else:
                v += np.bitwise_and(gb, keep).view(g.dtype)
    if padded == tuple(input_shape):
        return buf
    return np.ascontiguousarray(buf[(slice(None),) * 2 + tuple(
        slice(lo, lo + n) for n, (lo, _) in zip(input_shape[2:], pads))])


def max_pool_gather(h, arg, kernel, stride, padding, dilation, ceil_mode):
    """The adjoint of ``max_pool_backward`` w.r.t. g: each output reads h at its
    window's maximum."""
    out, pads = geometry(h.shape, kernel, stride, padding, dilation, ceil_mode)
    res = np.zeros(arg.shape, dtype=h.dtype)
    if res.size == 0:
        return res
    tiling = _tiling(kernel, stride, dilation, pads)
    src = h if tiling else _padded(h, pads, 0)
    rb = _bits(res)
    for k, v in enumerate(_views(src, kernel, stride, dilation, out, tiling)):
        # exactly one position matches each output: OR-ing the masked values selects it
        np.bitwise_or(rb, np.bitwise_and(_bits(v),
                                         _keep(arg, k, rb.dtype)), out=rb)
    return res


def flat_indices(arg, input_shape, kernel, stride, padding, dilation):
    """PyTorch's indices (flat positions in each input plane/volume) from the window
    positions ``arg``."""
    sp = tuple(input_shape[2:])
    pitch = [math.prod(sp[i + 1:]) for i in range(len(sp))]
    kp = [math.prod(kernel[i + 1:]) for i in range(len(kernel))]
    rest = arg.astype(np.int64)
    idx = np.zeros(arg.shape, dtype=np.int64)
    nd = len(sp)
    for i in range(nd):
        if i < nd - 1:
            pos, rest = np.divmod(rest, kp[i])
        else:
            pos = rest
        origin = (np.arange(arg.shape[2 + i], dtype=np.int64) * stride[i]
                  - padding[i]).reshape((-1,) + (1,) * (nd - 1 - i))
        idx += (origin + pos * dilation[i]) * pitch[i]
    return idx


def _avg_divisor(shape, kernel, stride, padding, out, count_include_pad, divisor_override,
                 dtype):
    """PyTorch's divisor per output: the window clipped to the padded input (or to the
    input itself without ``count_include_pad``), or ``divisor_override``."""
    if divisor_override:
        return np.asarray(divisor_override, dtype=dtype)
    div = np.ones((), dtype=np.int64)
    nd = len(kernel)
    for i in range(nd):
        n, k, s, p = shape[2 + i], kernel[i], stride[i], padding[i]
        start = np.arange(out[i]) * s - p
        end = np.minimum(start + k, n + p)
        size = end - start
        if not count_include_pad:
            size = np.minimum(end, n) - np.maximum(start, 0)
        div = div[..., None] * size
    return div.astype(dtype)


def avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """The average over every window (PyTorch's divisor rules for padding and ceil_mode)."""
    ones = (1,) * len(kernel)
    out, pads = geometry(x.shape, kernel, stride, padding, ones, ceil_mode)
    shape = x.shape[:2] + out
    if 0 in shape:
        return np.zeros(shape, dtype=x.dtype)
    tiling = _tiling(kernel, stride, ones, pads)
    src = x if tiling else _padded(x, pads, 0)
    cands = _views(src, kernel, stride, ones, out, tiling)
    acc = np.array(cands[0], copy=True)
    for c in cands[1:]:
        acc += c
    div = _avg_divisor(x.shape, kernel, stride, padding, out, count_include_pad,
                       divisor_override, x.dtype)
    if x.dtype == np.int64:
        # PyTorch averages int64 in C++ integer arithmetic: the sum (wrapping on overflow)
        # divided with truncation toward zero (divisor_override may be negative); other
        # integer dtypes fail below, and the op's infer rule names them
        q = np.floor_divide(acc, div)
        q += (np.multiply(q, div) != acc) & ((acc < 0) != (div < 0))
        return q
    acc /= div
    return acc


def avg_pool_backward(g, input_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                      divisor_override):
    """The adjoint of ``avg_pool``: each output's gradient spread over its window."""
    ones = (1,) * len(kernel)
    out, pads = geometry(input_shape, kernel, stride, padding, ones, ceil_mode)
    tiling = _tiling(kernel, stride, ones, pads)
    padded = tuple(input_shape[:2]) + tuple(n + lo + hi
                                            for n, (lo, hi) in zip(input_shape[2:], pads))
    buf = np.zeros(padded, dtype=g.dtype)
    if g.size:
        gd = g / _avg_divisor(input_shape, kernel, stride, padding, out, count_include_pad,
                              divisor_override, g.dtype)
        for v in _views(buf, kernel, stride, ones, out, tiling):
            if tiling:
                np.copyto(v, gd)
            else:
                v += gd
    if padded == tuple(input_shape):
        return buf
    return np.ascontiguousarray(buf[(slice(None),) * 2 + tuple(
        slice(lo, lo + n) for n, (lo, _) in zip(input_shape[2:], pads))])
