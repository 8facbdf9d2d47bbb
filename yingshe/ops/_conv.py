"""N-d convolution kernels on channel-first NumPy arrays (``conv1d``/``conv2d`` and
``conv3d`` in ``nn.py`` and ``conv3d.py`` are thin op blocks over these).

Three kernels, each the adjoint of the others' inputs (see the op blocks):

* ``forward``: im2col + GEMM. ``weight_grad``: the same columns, one GEMM that sums over
  samples and positions. ``transpose`` (the input gradient, and ``conv_transpose``): one
  GEMM to columns, then the columns are summed into the output.

Lowering, chosen per call from the shapes:

* **Chunks.** The columns are built and consumed in chunks of about ``COLS_BYTES``
  (cache-sized): each chunk is one im2col copy into a reused buffer and *one* GEMM over
  all its columns. A chunk is several whole samples, or, where one sample's columns
  exceed the budget and number more than ``2 * MIN_COLS``, a run of output rows (of the
  first spatial dim) of one sample, at least ``MIN_COLS`` columns (a GEMM over fewer runs
  below OpenBLAS's rate). Measured (thread CPU time, one thread): the 3-D sweep's 1->8
  16^3 k3 row 18% faster forward and 25% faster weight gradient than whole-sample
  chunks, its 8->16 row 2-5% (within noise); the 2-D rows' samples stay whole. Nothing of the
  size of the whole batch's columns is ever allocated, so the columns are written and
  read while they are still in cache.
* **Channel-major columns** ``(C*k..., samples*positions)``: the GEMM's output is
  ``(O, samples, positions)``, so groups are a batched GEMM over ``(G, ...)`` and the
  weight gradient is one GEMM whose reduction runs over every sample and position of the
  chunk (no per-sample products to add up). The forward's output is copied once into
  the ``(N, O, ...)`` result (dropping the wide columns, adding the bias in the same
  pass).
* **Wide columns** (stride 1): with the padded input flattened, the windows of one
  kernel position are one contiguous run, ``L = sum((out_i - 1) * pitch_i) + out_last``
  long, so the copy moves long runs instead of rows of ``out_last``. The wrap-around
  positions between rows are computed and dropped (forward) or met with zero gradients
  (weight gradient); the latter is exact only while the input is finite (0 * inf is
  NaN), so a non-finite input takes the exact windows. Other strides copy the windows as
  they are.
* **The transposed convolution at stride 1** writes the GEMM's columns for each sample
  into a plane of the full output's pitch with zero margins, so that every kernel
  position's contribution to an output position is a fixed offset away: the col2im is
  then *one* strided ``sum`` over the kernel axes, written straight into the result
  (instead of one slice-add per kernel position). The zeros are exact only while the
  weight is finite; a non-finite weight, and other strides, take one slice-add per kernel
  position (per chunk).

* **With numba** (the ``jit`` extra; NumPy's lowerings above remain the path without
  it): the 1-D/2-D/3-D transposed convolution of samples of at most ``LANES_POSITIONS``
  positions runs its GEMM over the exact input positions with the samples innermost and
  a numba col2im (``_transpose_numba``), and the forward's GEMM output is copied into
  the result (with its bias) by a numba loop instead of NumPy's strided add.

The GEMM orientations are the ones OpenBLAS runs fastest for these shapes (measured:
``cols @ g.T`` for the weight gradient is ~1.5x faster than ``g @ cols.T``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["forward", "transpose", "weight_grad", "out_size"]

# Bytes of columns per chunk: a quarter of a core's L2 here (2 MB), which leaves room for
# the GEMM's packed panels. Measured on the cnnbn and sweep shapes (benchmarks/
# conv_sweep.py), 256 KiB - 1 MiB are within noise of each other; 2-4 MiB lose 10-30%,
# and the whole batch at once (the old lowering) up to 2x.
COLS_BYTES = 1 << 19
# The fewest columns of a chunk cut from one sample; samples of up to twice as many
# columns stay whole (see the module docstring).
MIN_COLS = 1024
# The most columns of a chunk of whole samples (the GEMM's long dim): small samples (few
# channels, k3 or 14x14) would otherwise put 5-64 of them in a chunk. Measured on the
# sweep's 1->16 rows and cnnbn's conv1 (thread CPU time): 1.5-4K columns per chunk are
# best, 10-20% faster forward and 15-45% weight gradient than the byte budget alone; rows
# of more channels (the budget already gives 1-4 samples) are unchanged.
MAX_COLS = 2048
# Bytes of the strided transposed convolution's column buffer per chunk.
SCATTER_BYTES = 1 << 19
# Samples per chunk of the numba transposed convolution (its col2im's SIMD lanes): 16,
# or 8 where 16 samples' columns exceed LANES_BYTES. Measured on the 2-D sweep's rows
# (batch 64, thread CPU time): 16 is best up to ~1.25 MB of columns per sample; above
# (28x28 at 32+ channels) 8 is 10-25% faster than 16; 20 and 32 lose up to 40%.
LANES = 16
LANES_BYTES = 20 << 20
# The most input positions per sample (prod of its spatial sizes) for which the numba
# transposed convolution runs. Its gain is the wide plane's margin (the NumPy lowering's
# GEMM over (H+k-1)(W+k-1) instead of H*W positions), which shrinks as the plane grows,
# while its transposing copies and col2im cost per position: measured (thread CPU time,
# load average 4-7) 0.5-0.8x on 14x14 and 8^3 rows, but 0.8-1.3x (load-dependent, the
# chunks leave the cache) on 28x28 rows (784 positions), so those keep NumPy's lowering.
LANES_POSITIONS = 512


def out_size(n: int, k: int, s: int, pad: tuple, d: int) -> int:
    """Output length of one spatial dim of a convolution."""
    return (n + pad[0] + pad[1] - d * (k - 1) - 1) // s + 1


def _finite(a) -> bool:
    """Whether every element of ``a`` is finite. One summing pass and no temporary: a
    non-finite element makes the sum non-finite; a finite array whose sum overflows
    reads as non-finite, which only sends it to the exact (slower) path."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.add.reduce(a, axis=None)))


def _chunk(n: int, per_sample: int, budget: int) -> int:
    """Samples per chunk: as many as fit in ``budget`` bytes, at least one."""
    return max(1, min(n, budget // max(per_sample, 1)))


def _into(a, shape):
    """``a`` reshaped to ``shape`` as a view (a destination must never be a copy)."""
    v = a.reshape(shape)
    if not np.may_share_memory(v, a):   # pragma: no cover - the buffers are laid out for it
        raise AssertionError(f"conv kernels: {a.shape} -> {shape} is not a view")
    return v


def _pitches(shape) -> tuple:
    """Element strides of a C-contiguous array of ``shape``."""
    out, p = [], 1
    for n in reversed(shape):
        out.append(p)
        p *= n
    return tuple(reversed(out))


def _layout(pshape, kernel, stride, dilation, out, wide):
    """The column grid of one sample: its length and, per spatial dim, the element
    offset between neighbouring outputs in the flattened padded input (``steps``) and in
    the columns (``pitch``)."""
    p = _pitches(pshape)
    if wide:
        length = sum((o - 1) * q for o, q in zip(out[:-1], p[:-1])) + out[-1]
        return length, p, p
    return math.prod(out), tuple(s * q for s, q in zip(stride, p)), _pitches(out)


class _Columns:
    """im2col, one chunk at a time, into a reused ``(C*k..., columns)`` buffer (rows
    ordered like the weight's (c, k...), columns (sample, position)); see ``chunks``.

    The padded input is a reused ``(m, C, *padded)`` buffer whose padding is written
    once; every strided view (of its windows, of the columns) for whole-sample chunks is
    built once per call and sliced per chunk, so a chunk costs its two copies and nothing
    else (building a view costs more than copying a small chunk)."""

    def __init__(self, x, kernel, stride, pads, dilation, out, wide, budget):
        if any(hi < 0 for _, hi in pads):      # a negative trailing pad crops
            x = x[(slice(None),) * 2 + tuple(slice(0, n + min(hi, 0))
                                             for n, (_, hi) in zip(x.shape[2:], pads))]
            pads = tuple((lo, max(hi, 0)) for lo, hi in pads)
        N, C = x.shape[:2]
        nd = len(kernel)
        pshape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
        self.length, steps, self.pitch = _layout(pshape, kernel, stride, dilation, out, wide)
        self.rows = C * math.prod(kernel)
        self.out, self.wide, self.N = tuple(out), wide, N
        e = x.itemsize
        per_sample = self.rows * self.length * e
        self.m = m = min(_chunk(N, per_sample, budget), max(1, MAX_COLS // self.length))
        # output rows (of the first spatial dim) per chunk where one sample is too big
        want = max(budget // max(self.rows * e, 1), MIN_COLS)
        self.part = out[0] if per_sample <= budget or self.length <= 2 * MIN_COLS else \
            max(1, min(out[0], want // self.pitch[0]))
        whole = self.part == out[0]
        self.capacity = m * self.length if whole else self.ncols(0, self.part)
        self.x = x
        p = _pitches(pshape)
        vol = math.prod(pshape)
        self.plain = not any(lo or hi for lo, hi in pads)
        if self.plain:
            base, n_src = np.ascontiguousarray(x), N
        else:
            base, n_src = np.zeros((m, C) + pshape, dtype=x.dtype), m
            self.inner = (slice(None),) * 2 + tuple(
                slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads))
        self.base = base
        grid = (self.length,) if wide else self.out
        gst = (e,) if wide else tuple(s * e for s in steps)
        self.kshape = (C,) + tuple(kernel)
        self.src = as_strided(base, self.kshape + (n_src,) + grid,
                              (vol * e,) + tuple(d * q * e for d, q in zip(dilation, p))
                              + (C * vol * e,) + gst, writeable=False)
        self.cols = np.empty((self.rows, self.capacity), dtype=x.dtype)
        if whole:
            self.dst = _into(self.cols, self.kshape + (m,) + grid)
        self.axis = (slice(None),) * (1 + nd)      # up to the sample axis of src/dst

    def ncols(self, r0: int, r1: int) -> int:
        """Columns of output rows ``r0:r1`` of one sample (a wide grid ends after the
        last row's valid positions)."""
        return min(r1 * self.pitch[0], self.length) - r0 * self.pitch[0]

    def chunks(self):
        """(first sample, samples, first row, end row, columns) of every chunk: ``m``
        whole samples, or ``part`` output rows of one sample."""
        o0 = self.out[0]
        if self.part == o0:
            for n0 in range(0, self.N, self.m):
                mm = min(self.m, self.N - n0)
                yield n0, mm, 0, o0, mm * self.length
            return
        for n in range(self.N):
            for r0 in range(0, o0, self.part):
                r1 = min(r0 + self.part, o0)
                yield n, 1, r0, r1, self.ncols(r0, r1)

    def fill(self, n0: int, mm: int, r0: int, r1: int, nc: int):
        """The columns of one chunk (see ``chunks``): a (rows, nc) view of the buffer."""
        i = n0
        if not self.plain:
            i = 0
            if r0 == 0:
                self.base[:mm][self.inner] = self.x[n0:n0 + mm]
        if self.part == self.out[0]:
            np.copyto(self.dst[self.axis + (slice(0, mm),)],
                      self.src[self.axis + (slice(i, i + mm),)])
        elif self.wide:
            c0 = r0 * self.pitch[0]
            np.copyto(_into(self.cols[:, :nc], self.kshape + (nc,)),
                      self.src[self.axis + (i, slice(c0, c0 + nc))])
        else:
            np.copyto(_into(self.cols[:, :nc], self.kshape + (r1 - r0,) + self.out[1:]),
                      self.src[self.axis + (i, slice(r0, r1))])
        return self.cols[:, :nc]

    def grid(self, buf, writeable: bool):
        """``buf`` (channels, capacity), the column grid of a chunk, seen as the chunk's
        ``(samples, channels, *out)`` values (rows of the first spatial dim up to
        ``part``): the valid positions, dropping a wide grid's wrap-around columns.
        Built once per call and sliced per chunk (``[:mm, :, :r1 - r0]``)."""
        e = buf.itemsize
        lead = self.m if self.part == self.out[0] else 1
        return as_strided(buf, (lead, buf.shape[0], self.part) + self.out[1:],
                          (self.length * e, buf.strides[0]) + tuple(q * e for q in self.pitch),
                          writeable=writeable)


def _geometry(x, kernel, stride, pads, dilation):
    """The output's spatial sizes; a kernel larger than the padded input is an error
    (the op's shape rule then names the sizes)."""
    out = tuple(out_size(n, k, s, p, d)
                for n, k, s, p, d in zip(x.shape[2:], kernel, stride, pads, dilation))
    if any(o <= 0 for o in out):
        raise ValueError(f"the kernel {kernel} (dilation {dilation}) is larger than the "
                         f"padded input {x.shape[2:]} (padding {pads})")
    return out


def forward(x, w, b, stride, pads, dilation, groups):
    """``conv`` of x (N, C, *sp) with w (O, C/G, *k) [+ b (O,)] -> (N, O, *out)."""
    N = x.shape[0]
    O, Cg = w.shape[:2]
    kernel = tuple(w.shape[2:])
    out = _geometry(x, kernel, stride, pads, dilation)
    G, Kg = groups, Cg * math.prod(kernel)
    res = np.empty((N, O) + out, dtype=np.result_type(x, w))
    if N == 0:
        return res
    cols = _Columns(x, kernel, stride, pads, dilation, out, all(s == 1 for s in stride),
                    COLS_BYTES)
    prod = np.empty((G, O // G, cols.capacity), dtype=res.dtype)
    grid = cols.grid(prod.reshape(O, cols.capacity), False)
    wg = w.reshape(G, O // G, Kg)
    bias = None if b is None else b.reshape((1, O) + (1,) * len(out))
    # (a bias of another dtype keeps NumPy's add, which rounds once from the wider type)
    place = None if b is not None and b.dtype != res.dtype else _place_numba(len(out),
                                                                              res.dtype)
    if place is not None:
        flat = prod.reshape(O, cols.capacity)
        bvec = np.zeros(O, res.dtype) if b is None else b     # (not read without a bias)
        # the grid's last pitch is 1: rows are runs; 2-D runs as 3-D of depth 1
        pitches = (cols.length,) + (0,) * (3 - len(out)) + tuple(cols.pitch[:-1])
        lift = (slice(None),) * 2 + (None,) * (3 - len(out))
    for n0, mm, r0, r1, nc in cols.chunks():
        cc = cols.fill(n0, mm, r0, r1, nc)
        np.matmul(wg, cc.reshape(G, Kg, nc), out=prod[:, :, :nc])
        # the valid positions into the result, the bias added in the same pass
        if place is not None:
            place(flat, res[n0:n0 + mm, :, r0:r1][lift], bvec, b is not None, *pitches)
        elif bias is None:
            np.copyto(res[n0:n0 + mm, :, r0:r1], grid[:mm, :, :r1 - r0])
        else:
            np.add(grid[:mm, :, :r1 - r0], bias, out=res[n0:n0 + mm, :, r0:r1])
    return res


def weight_grad(x, g, wshape, stride, pads, dilation, groups):
    """The gradient of ``forward`` w.r.t. its weight: sum over samples and positions of
    g (N, O, *out) times the windows of x (N, C, *sp) -> (O, C/G, *k)."""
    N = x.shape[0]
    O, Cg = wshape[:2]
    kernel = tuple(wshape[2:])
    out = tuple(g.shape[2:])
    G, Kg, Og = groups, Cg * math.prod(kernel), O // groups
    acc = np.zeros((G, Kg, Og), dtype=np.result_type(x, g))
    if N == 0 or 0 in out:
        return _wgrad_result(acc, wshape)
    wide = all(s == 1 for s in stride) and _finite(x)
    cols = _Columns(x, kernel, stride, pads, dilation, out, wide, COLS_BYTES)
    # g on the column grid, channel-major; wrap-around positions stay zero throughout
    gcols = np.zeros((O, cols.capacity), dtype=g.dtype)
    grid = cols.grid(gcols, True)
    part = np.empty_like(acc)
    for n0, mm, r0, r1, nc in cols.chunks():
        cc = cols.fill(n0, mm, r0, r1, nc)
        np.copyto(grid[:mm, :, :r1 - r0], g[n0:n0 + mm, :, r0:r1])
        # dW^T (G, Kg, Og) = cols (G, Kg, P) @ g^T (G, P, Og), P = every sample and position
        np.matmul(cc.reshape(G, Kg, nc),
                  gcols[:, :nc].reshape(G, Og, nc).transpose(0, 2, 1), out=part)
        acc += part
    return _wgrad_result(acc, wshape)


def _wgrad_result(acc, wshape):
    """(G, Kg, Og) -> the weight's (O, Cg, *k)."""
    G, Kg, Og = acc.shape
    return np.ascontiguousarray(acc.transpose(0, 2, 1)).reshape(wshape)


def transpose(x, w, b, stride, pads, dilation, groups, out):
    """The adjoint of ``forward`` w.r.t. its input, as ``conv_transpose``: x (N, Cin, *in),
    w (Cin, Cout/G, *k) [+ b] -> (N, Cout, *out); ``pads`` gives each dim's leading crop
    (its trailing entry is not read: ``out`` fixes the size)."""
    N, Cin = x.shape[:2]
    Cog = w.shape[1]
    kernel = tuple(w.shape[2:])
    nd = len(kernel)
    G = groups
    Cout, Kg, Cig = G * Cog, Cog * math.prod(kernel), Cin // G
    res = np.empty((N, Cout) + tuple(out), dtype=np.result_type(x, w))
    inner = tuple(x.shape[2:])
    if N == 0 or 0 in out:
        return res
    if 0 in inner:
        res[...] = 0 if b is None else b.reshape((1, Cout) + (1,) * nd)
        return res
    # the weight as (G, Cog*k..., Cin/G): rows ordered (co, k...) like the columns'
    wt = w.reshape(G, Cig, Kg).transpose(0, 2, 1)
    lead = tuple(lo for lo, _ in pads)
    col2im = _col2im_numba(nd, res.dtype)
    lanes = 0 if math.prod(inner) > LANES_POSITIONS else \
        _lanes(N, Cout * math.prod(kernel) * math.prod(inner) * res.itemsize)
    if col2im is not None and lanes:
        _transpose_numba(x, wt, res, kernel, stride, lead, dilation, G, col2im, lanes)
    elif all(s == 1 for s in stride) and _finite(w):
        _transpose_wide(x, wt, res, kernel, lead, dilation, G)
    else:
        _transpose_scatter(x, wt, res, kernel, stride, lead, dilation, G)
    if b is not None:
        res += b.reshape((1, Cout) + (1,) * nd)
    return res


def _place_numba(nd, dtype):
    """numba's loop copying a 2-D or 3-D convolution's GEMM output from the column grid
    into the (N, O, *out) result with the bias (``grid_to_ncdhw``), or
    None (NumPy's strided copy, whose iterator pays per row of 8-28 values: the loop
    measured 0.55-0.7x the whole forward's time on the sweep's 1->16 rows). The weight
    gradient's inverse copy of g onto the grid measured level with NumPy's, so it stays
    NumPy's."""
    if nd not in (2, 3) or dtype not in (np.float32, np.float64):
        return None
    from yingshe.ops._numba_kernels import kernels
    k = kernels()
    return None if k is None else k["grid_to_ncdhw"]


def _col2im_numba(nd, dtype):
    """numba's col2im loop (the ``jit`` extra) where it serves: 1-D (as 2-D), 2-D and
    3-D, float32 and float64; else None (the NumPy lowerings)."""
    if dtype not in (np.float32, np.float64):
        return None
    from yingshe.ops._numba_kernels import kernels
    k = kernels()
    return None if k is None else k["col2im_3d"]


def _lanes(N, per_sample):
    """Samples per chunk of ``_transpose_numba`` (its columns take ``per_sample`` bytes a
    sample): LANES, or half as many where those exceed LANES_BYTES; 0 where even half
    exceed it (the NumPy lowerings then run: measured on 3-D 16^3 volumes, whose 3.5 MB
    of columns a sample made numba's path 1.05-1.1x slower than the wide one)."""
    for m in (LANES, LANES // 2):
        if m * per_sample <= LANES_BYTES:
            return max(1, min(N, m))
    return 0


def _transpose_numba(x, wt, res, kernel, stride, lead, dilation, G, col2im, m):
    """Any stride, 1-D, 2-D or 3-D, samples innermost: per chunk of ``m`` samples, x's chunk
    as ``(Cin, positions, m)`` (one transposing copy), one GEMM to the columns of the
    *exact* input positions (no wide plane: 1.6x fewer flops than ``_transpose_wide`` on
    14x14 k5), numba's col2im sums each output's valid contributions into a ``(Cout,
    *out, m)`` buffer, copied (transposed) into the result. 1-D and 2-D calls run as 3-D
    with leading dims of size 1 (one loop nest)."""
    flat = _into(res, res.shape[:2] + (-1,))        # (N, Cout, Q): where the chunks land
    while len(kernel) < 3:      # 1-D and 2-D run as 3-D with leading dims of size 1
        x, res = x[:, :, None], res[:, :, None]
        kernel, stride, dilation = ((1,) + tuple(t) for t in (kernel, stride, dilation))
        lead = (0,) + tuple(lead)
    N, Cin = x.shape[:2]
    inner, out = tuple(x.shape[2:]), tuple(res.shape[2:])
    P, Q = math.prod(inner), math.prod(out)
    Kg, Cig = wt.shape[1], wt.shape[2]
    Cout = res.shape[1]
    xc = np.empty((Cin, P, m), dtype=x.dtype)
    cols = np.empty((G, Kg, P * m), dtype=res.dtype)
    grid = _into(cols, (Cout,) + tuple(kernel) + inner + (m,))
    buf = np.empty((Cout,) + out + (m,), dtype=res.dtype)
    for n0 in range(0, N, m):
        mm = min(m, N - n0)
        if mm < m:      # the last, short chunk: zero samples fill the lanes
            xc[...] = 0
        np.copyto(xc[:, :, :mm], x[n0:n0 + mm].reshape(mm, Cin, P).transpose(1, 2, 0))
        np.matmul(wt, xc.reshape(G, Cig, P * m), out=cols)
        col2im(grid, buf, *stride, *dilation, *lead)
        np.copyto(flat[n0:n0 + mm],
                  buf.reshape(Cout, Q, m)[:, :, :mm].transpose(2, 0, 1))


def _transpose_wide(x, wt, res, kernel, lead, dilation, G):
    """Stride 1: per sample, the GEMM's columns land in a plane of the full output's
    pitch (x at its corner, zeros around it), after a zero margin; the output at flat
    position ``q`` is then ``sum_k cols[k, q - shift_k]`` — one strided sum."""
    N, Cin = x.shape[:2]
    inner = tuple(x.shape[2:])
    out = tuple(res.shape[2:])
    nd = len(kernel)
    K, Cout = wt.shape[0] * wt.shape[1], res.shape[1]
    kk = math.prod(kernel)
    # the plane: room for every kernel position's reach and for the cropped output
    plane_shape = tuple(max(n + (k - 1) * d, lo + o)
                        for n, k, d, lo, o in zip(inner, kernel, dilation, lead, out))
    pitch = _pitches(plane_shape)
    plane = math.prod(plane_shape)
    shifts = tuple(d * q for d, q in zip(dilation, pitch))
    margin = sum((k - 1) * s for k, s in zip(kernel, shifts))
    # per sample, positions 0..span-1 of the plane hold x's rows (with zero wrap-arounds)
    span = sum((n - 1) * q for n, q in zip(inner[:-1], pitch[:-1])) + inner[-1]
    m = _chunk(N, K * plane * x.itemsize, SCATTER_BYTES)
    e = res.itemsize
    R = margin + m * plane
    cols = np.zeros((K, R), dtype=res.dtype)
    xw = np.zeros((m, Cin, span), dtype=x.dtype)
    xw_grid = as_strided(xw, (m, Cin) + inner, (Cin * span * e, span * e)
                         + tuple(q * e for q in pitch))
    kst = tuple((math.prod(kernel[i + 1:]) * R - s) * e for i, s in enumerate(shifts))
    start = margin + sum(lo * q for lo, q in zip(lead, pitch))
    # cols[:, margin + n*plane : + span] = wt @ xw[n], per sample and group
    dst = as_strided(cols[:, margin:], (m, G, K // G, span),
                     (plane * e, (K // G) * R * e, R * e, e))
    src = as_strided(cols[:, start:], (Cout, m) + out + tuple(kernel),
                     (kk * R * e, plane * e) + tuple(q * e for q in pitch) + kst,
                     writeable=False)
    kaxes = tuple(range(2 + nd, 2 + 2 * nd))
    for n0 in range(0, N, m):
        mm = min(m, N - n0)
        np.copyto(xw_grid[:mm], x[n0:n0 + mm])
        np.matmul(wt, xw[:mm].reshape(mm, G, Cin // G, span), out=dst[:mm])
        np.sum(src[:, :mm], axis=kaxes, out=res[n0:n0 + mm].swapaxes(0, 1))


def _transpose_scatter(x, wt, res, kernel, stride, lead, dilation, G):
    """Any stride: per chunk, one GEMM to columns (rows (co, k...), channel-major), then
    one strided slice-add per kernel position into a padded buffer."""
    N, Cin = x.shape[:2]
    inner = tuple(x.shape[2:])
    out = tuple(res.shape[2:])
    nd = len(kernel)
    K, Cout = wt.shape[0] * wt.shape[1], res.shape[1]
    full = tuple(max((k - 1) * d + (n - 1) * s + 1, lo + o)
                 for k, d, n, s, lo, o in zip(kernel, dilation, inner, stride, lead, out))
    P = math.prod(inner)
    m = _chunk(N, K * P * x.itemsize, SCATTER_BYTES)
    xc = np.empty((Cin, m * P), dtype=x.dtype)
    buf = np.empty((Cout, m) + full, dtype=res.dtype)
    crop = tuple(slice(lo, lo + o) for lo, o in zip(lead, out))
    for n0 in range(0, N, m):
        mm = min(m, N - n0)
        xcc = xc[:, :mm * P]
        np.copyto(_into(xcc, (Cin, mm, P)), x[n0:n0 + mm].reshape(mm, Cin, P).swapaxes(0, 1))
        cols = np.matmul(wt, xcc.reshape(G, Cin // G, mm * P))       # (G, Kg, mm*P)
        cols = cols.reshape((Cout,) + tuple(kernel) + (mm,) + inner)
        bb = buf[:, :mm]
        bb[...] = 0
        for pos in np.ndindex(*kernel):
            sl = tuple(slice(p * d, p * d + (n - 1) * s + 1, s)
                       for p, d, n, s in zip(pos, dilation, inner, stride))
            bb[(slice(None), slice(None)) + sl] += cols[(slice(None),) + pos]
        np.copyto(res[n0:n0 + mm].swapaxes(0, 1), bb[(slice(None), slice(None)) + crop])
