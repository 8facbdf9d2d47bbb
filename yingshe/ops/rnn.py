"""Fused recurrent layers: one op runs a whole sequence of one layer and direction.

``nn.LSTM``/``nn.GRU``/``nn.RNN`` (and their cells) project the input for every
timestep with one ``linear`` and then call one of these ops, so the recurrence costs
one tape node per layer and direction instead of a dozen per timestep:

``lstm_layer(xg, h0, c0, w_hh)``
    ``xg`` (T, B, 4H) is ``x W_ih^T + b_ih + b_hh``; gate order i, f, g, o.
    Returns (output (T, B, H), h_n (B, H), c_n (B, H)).
``gru_layer(xg, h0, w_hh, b_hh)``
    ``xg`` (T, B, 3H) is ``x W_ih^T + b_ih``; gate order r, z, n with
    ``n = tanh(x_n + r * (W_hn h + b_hn))``. Returns (output, h_n).
``rnn_layer(xg, h0, w_hh, nonlinearity)``
    ``xg`` (T, B, H) is ``x W_ih^T + b_ih + b_hh``; ``h' = act(xg_t + W_hh h)``.

Attributes: ``reverse`` runs the sequence from its end (the backward direction of a
bidirectional layer; outputs stay in input order); ``batch_first`` says ``xg`` and the
output are (B, T, ...).

Each forward keeps its gate activations as hidden outputs; the VJP is one fused
backward-through-time op (``*_layer_backward``, NumPy loops, one matmul per step plus
one for the whole weight gradient). When the gradient itself must be differentiable
(``create_graph=True``), the VJP instead differentiates the same recurrence written
step by step with yingshe ops (``lstm_reference`` and friends), so higher derivatives
are exact too.
"""

from __future__ import annotations

import numpy as np

from yingshe._tensor import MODE, Tensor
from yingshe.errors import DTypeError, ShapeError
from yingshe.ops._registry import apply, is_graph_value, register_op
from yingshe.ops._shapes import Meta, shape_str

__all__: list[str] = []   # internal building blocks of yingshe.nn; not yingshe.* functions


# ---- numba kernels: the pointwise part of a time step -------------------------------------
#
# With the jit extra and the numba backend, a forward step is the recurrent matmul, one
# NumPy tanh over every gate at once and two or three small kernels; a backward step is
# one kernel (every gate derivative from the saved activations: no whole-sequence factor
# arrays) and the matmul. The kernels take the whole C-contiguous sequence arrays and the
# step index, so their inner loops run over contiguous rows and vectorise, and compute in
# the arrays' dtype (constants typed ``F``).
#
# The transcendental functions stay NumPy's: numba without Intel's SVML calls scalar libm
# (measured 16 ns per tanh, against 0.35 ns for NumPy's SIMD tanh; a vectorisable
# rational tanh in the kernel measured 96 us per 32x128 step, the NumPy tanh 5 us).
# To need one tanh call for all four LSTM gates, sigmoid(a) = (1 + tanh(a / 2)) / 2: the
# recurrent weights of the sigmoid gates are halved once per call (exact in binary) and
# the kernels halve the input projection, so tanh of the whole pre-activation row gives
# tanh(a / 2) on the sigmoid gates and tanh(a) on the cell gate. (The absolute error of
# a sigmoid so computed is an ulp of 1/2; PyTorch's tolerances are met.)

_KERNELS_SOURCE = """
# generated from yingshe.ops.rnn (the LSTM/GRU step kernels); safe to delete
import numba
import numpy as np

F = numba.{dtype}
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def lstm_preact(z, x3, t, bf):
    # z = s (h W_hh^T) with s = 1/2 on the sigmoid gates (i, f, o) and 1 on g: add s x_t
    B = z.shape[0]
    H = z.shape[1] // 4
    half = F(0.5)
    for b in range(B):
        zr = z[b]
        xr = x3[b, t] if bf else x3[t, b]
        for j in range(2 * H):
            zr[j] += half * xr[j]
        for j in range(2 * H, 3 * H):
            zr[j] += xr[j]
        for j in range(3 * H, 4 * H):
            zr[j] += half * xr[j]


@_jit
def lstm_cell(z, t, tp, cs, c0):
    # z = tanh of the pre-activations; it becomes the gates (i, f, g, o) and c_t is
    # written into cs[t] (the previous cell state is cs[tp], or c0 at the start)
    B = z.shape[0]
    H = z.shape[1] // 4
    half = F(0.5)
    for b in range(B):
        zr = z[b]
        cpr = c0[b] if tp < 0 else cs[tp, b]
        cr = cs[t, b]
        for j in range(H):
            i = half * zr[j] + half
            f = half * zr[H + j] + half
            zr[j] = i
            zr[H + j] = f
            cr[j] = f * cpr[j] + i * zr[2 * H + j]
        for j in range(3 * H, 4 * H):
            zr[j] = half * zr[j] + half


@_jit
def _add_step(dh, g3, t, bf):
    for b in range(dh.shape[0]):
        dhr = dh[b]
        gor = g3[b, t] if bf else g3[t, b]
        for j in range(dh.shape[1]):
            dhr[j] += gor[j]


@_jit
def lstm_backward_step(gates, cs, tcs, t, tp, c0, g3, bf, dh, dc, dz3):
    # dh, dc: the gradients of o_t tanh(c_t) and c_t from the later steps; dh gets the
    # output's own gradient g3[t] added here unless g3 is None (an LSTM with projections
    # adds it before projecting back). Writes d(pre-activations) into dz3 and leaves
    # d c_(t-1) in dc; the caller computes the previous step's dh = dz W_hh
    if g3 is not None:
        _add_step(dh, g3, t, bf)
    H = dh.shape[1]
    one = F(1.0)
    for b in range(dh.shape[0]):
        gr = gates[t, b]
        tcr = tcs[t, b]
        cpr = c0[b] if tp < 0 else cs[tp, b]
        dzr = dz3[b, t] if bf else dz3[t, b]
        dhr = dh[b]
        dcr = dc[b]
        for j in range(H):
            i = gr[j]
            f = gr[H + j]
            g = gr[2 * H + j]
            o = gr[3 * H + j]
            tc = tcr[j]
            dhv = dhr[j]
            dcv = dcr[j] + dhv * o * (one - tc * tc)
            dzr[j] = dcv * g * i * (one - i)
            dzr[H + j] = dcv * cpr[j] * f * (one - f)
            dzr[2 * H + j] = dcv * i * (one - g * g)
            dzr[3 * H + j] = dhv * tc * o * (one - o)
            dcr[j] = dcv * f


@_jit
def gru_preact(hg, bias, x3, t, bf, gates3, hns3):
    # hg = h W_hh^T with the r and z rows halved: writes the halved r, z pre-activations
    # into the gate slots (one tanh then gives both) and W_hn h + b_hn into hns3[t]
    B = hg.shape[0]
    H = hg.shape[1] // 3
    half = F(0.5)
    for b in range(B):
        hgr = hg[b]
        xr = x3[b, t] if bf else x3[t, b]
        gr = gates3[b, t] if bf else gates3[t, b]
        nr = hns3[b, t] if bf else hns3[t, b]
        for j in range(2 * H):
            gr[j] = hgr[j] + half * (xr[j] + bias[j])
        for j in range(H):
            nr[j] = hgr[2 * H + j] + bias[2 * H + j]


@_jit
def gru_candidate(x3, t, bf, gates3, hns3):
    # the r, z slots hold tanh(a / 2): make them sigmoids, and the n slot the candidate's
    # pre-activation x_n + r (W_hn h + b_hn)
    B = hns3.shape[0] if bf else hns3.shape[1]
    H = hns3.shape[2]
    half = F(0.5)
    for b in range(B):
        xr = x3[b, t] if bf else x3[t, b]
        gr = gates3[b, t] if bf else gates3[t, b]
        nr = hns3[b, t] if bf else hns3[t, b]
        for j in range(2 * H):
            gr[j] = half * gr[j] + half
        for j in range(H):
            gr[2 * H + j] = xr[2 * H + j] + gr[j] * nr[j]


@_jit
def gru_output(gates3, t, tp, bf, h0, out3):
    # h_t = (h_(t-1) - n) z + n, with n = tanh(...) already in the n slot
    B = h0.shape[0]
    H = h0.shape[1]
    for b in range(B):
        gr = gates3[b, t] if bf else gates3[t, b]
        hr = out3[b, t] if bf else out3[t, b]
        hpr = h0[b] if tp < 0 else (out3[b, tp] if bf else out3[tp, b])
        for j in range(H):
            n = gr[2 * H + j]
            hr[j] = (hpr[j] - n) * gr[H + j] + n


@_jit
def gru_backward_step(gates3, hns3, out3, t, tp, h0, g3, bf, dh, dx3, dhg3):
    # writes d(pre-activations) of the input projection (dx) and of W_hh h + b_hh (dhg)
    # at step t, and leaves dh z in dh: the caller adds dhg W_hh
    B, H = dh.shape
    one = F(1.0)
    for b in range(B):
        gr = gates3[b, t] if bf else gates3[t, b]
        nr = hns3[b, t] if bf else hns3[t, b]
        hpr = h0[b] if tp < 0 else (out3[b, tp] if bf else out3[tp, b])
        gor = g3[b, t] if bf else g3[t, b]
        dxr = dx3[b, t] if bf else dx3[t, b]
        dgr = dhg3[b, t] if bf else dhg3[t, b]
        dhr = dh[b]
        for j in range(H):
            r = gr[j]
            z = gr[H + j]
            n = gr[2 * H + j]
            dhv = dhr[j] + gor[j]
            dn = dhv * (one - z) * (one - n * n)
            dzp = dhv * (hpr[j] - n) * z * (one - z)
            dr = dn * nr[j] * r * (one - r)
            dxr[j] = dr
            dxr[H + j] = dzp
            dxr[2 * H + j] = dn
            dgr[j] = dr
            dgr[H + j] = dzp
            dgr[2 * H + j] = dn * r
            dhr[j] = dhv * z
"""

_DTYPES = ("float32", "float64")
_kernel_modules: dict = {}


def _kernels(*arrays):
    """The step kernels for these arrays, or None: NumPy runs the steps (no numba, the
    numpy backend, or another dtype)."""
    from yingshe.backend import jit
    dt = arrays[0].dtype
    if dt.name not in _DTYPES or any(a.dtype != dt for a in arrays):
        return None
    if jit.resolve_backend() != "numba":
        return None
    mod = _kernel_modules.get(dt.name)
    if mod is None:
        src = _KERNELS_SOURCE.format(dtype=dt.name)
        mod = _kernel_modules[dt.name] = jit.load_source(src, f"rnn_{dt.name}")
    return mod


def _check_shapes(xg, h0, w, gates: int, bf: bool, c0=None, b=None, w_hr=None) -> None:
    """The kernels index raw memory: a shape that NumPy's steps would reject must not
    reach them (``apply`` re-raises the error through the op's shape rule, which names
    the op and the shapes)."""
    H = (w_hr.shape[1] if w_hr is not None and w_hr.ndim == 2 else
         w.shape[1] if w.ndim == 2 else -1)
    P = w_hr.shape[0] if w_hr is not None and w_hr.ndim == 2 else H
    B = (xg.shape[0] if bf else xg.shape[1]) if xg.ndim == 3 else -1
    ok = (xg.ndim == 3 and w.shape == (gates * H, P) and xg.shape[2] == gates * H
          and h0.shape == (B, P) and (c0 is None or c0.shape == (B, H))
          and (b is None or b.shape == (gates * H,)))
    if not ok:
        raise ValueError(f"shapes {xg.shape}, {h0.shape}, {w.shape} do not fit")


def _prev(t: int, T: int, reverse: bool) -> int:
    """The step before ``t`` in the recurrence's order, or -1 at its start."""
    tp = t + 1 if reverse else t - 1
    return tp if 0 <= tp < T else -1


# ---- helpers ----------------------------------------------------------------------------

def _order(T: int, reverse: bool):
    return range(T - 1, -1, -1) if reverse else range(T)


def _sigmoid_(a):
    """In place 1 / (1 + exp(-a)); exact at both tails (exp overflow gives 0)."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)
    return a


def _shifted(out, h0, reverse: bool, bf: bool):
    """The state entering each step: h_{t-1} (or h_{t+1} when reversed), h0 at the start."""
    prev = np.empty_like(out)
    if out.shape[1 if bf else 0] == 0:
        return prev
    if bf:
        if reverse:
            prev[:, :-1] = out[:, 1:]
            prev[:, -1] = h0
        else:
            prev[:, 1:] = out[:, :-1]
            prev[:, 0] = h0
    else:
        if reverse:
            prev[:-1] = out[1:]
            prev[-1] = h0
        else:
            prev[1:] = out[:-1]
            prev[0] = h0
    return prev


def _check(name: str, xg, h0, w, gates: int, c0=None, b=None):
    """Shape/dtype rule shared by the three layers; returns (T, B, H)."""
    for label, t in (("h0", h0), ("w_hh", w), ("c0", c0), ("b_hh", b)):
        if t is not None and t.dtype != xg.dtype:
            raise DTypeError(f"{name}: {label} has dtype {t.dtype}, expected {xg.dtype} "
                             "(the input's)")
    if not xg.dtype.is_floating_point:
        raise DTypeError(f"{name}: expected a floating-point input, got {xg.dtype}")
    if xg.ndim != 3 or h0.ndim != 2 or w.ndim != 2:
        raise ShapeError(f"{name}: expected a 3-d input, 2-d h0 and 2-d w_hh, got "
                         f"{shape_str(xg.shape)}, {shape_str(h0.shape)}, {shape_str(w.shape)}")
    H = w.shape[1]
    if None not in (w.shape[0], H) and w.shape[0] != gates * H:
        raise ShapeError(f"{name}: w_hh of shape {shape_str(w.shape)} is not "
                         f"({gates} * hidden_size, hidden_size)")
    if None not in (xg.shape[2], H) and xg.shape[2] != gates * H:
        raise ShapeError(f"{name}: input projection of shape {shape_str(xg.shape)} does not "
                         f"have {gates} * hidden_size = {gates * H} features")
    for label, t in (("h0", h0), ("c0", c0)):
        if t is not None and t.ndim == 2 and None not in (t.shape[1], H) and t.shape[1] != H:
            raise ShapeError(f"{name}: {label} of shape {shape_str(t.shape)} does not have "
                             f"hidden_size = {H} features")
    if b is not None and (b.ndim != 1 or None not in (b.shape[0], H)
                          and b.shape[0] != gates * H):
        raise ShapeError(f"{name}: b_hh of shape {shape_str(b.shape)} is not "
                         f"({gates} * hidden_size,)")
    return H


def _layout(xg, H, bf):
    T, B = (xg.shape[1], xg.shape[0]) if bf else (xg.shape[0], xg.shape[1])
    seq = (B, T, H) if bf else (T, B, H)
    return B, seq


def _composed_vjp(reference, inputs, needs, grads, **attrs):
    """Gradients of the step-by-step recurrence (differentiable: used under
    ``create_graph=True``)."""
    from yingshe import autograd
    idx = [i for i, n in enumerate(needs) if n and isinstance(inputs[i], Tensor)]
    outs = reference(None, *inputs, **attrs)
    got = autograd.grad(outs, [inputs[i] for i in idx], grad_outputs=grads,
                        create_graph=True, allow_unused=True)
    result = [None] * len(inputs)
    for i, g in zip(idx, got):
        result[i] = g
    return tuple(result)


def _differentiable_grad(*values) -> bool:
    """Whether the VJP must itself be differentiable: under ``create_graph=True`` in
    eager mode. A graph (``yingshe.graph.gradients``, or ``yingshe.compile``'s tracer)
    gets the fused backward op, which runs as one node; so a gradient of a recurrent
    layer's gradient is eager-only (graph mode refuses it as not differentiable)."""
    if not MODE.grad_enabled or MODE.tracer is not None:
        return False
    return not any(is_graph_value(v) for v in values)


# ---- LSTM -----------------------------------------------------------------------------------

@register_op("lstm_layer", saves="both", num_outputs=6, hidden=3, reads_visible=False)
class LstmLayer:
    """One LSTM layer over a whole sequence; with ``w_hr`` (P, H) (PyTorch's
    ``proj_size``), h_t = W_hr (o_t tanh(c_t)) of size P feeds the recurrence and the
    output. Hidden outputs (time-major whatever the layout, for the backward's per-step
    slices to be contiguous): the gate activations (T, B, 4H) (i, f, g, o), the cell
    states c_t and tanh(c_t) (T, B, H)."""

    def forward(xp, xg, h0, c0, w_hh, w_hr=None, *, reverse, batch_first):
        bf = batch_first
        T = xg.shape[1] if bf else xg.shape[0]
        H = c0.shape[1]
        P = H if w_hr is None else w_hr.shape[0]
        B = h0.shape[0]
        out = xp.empty((B, T, P) if bf else (T, B, P), dtype=xg.dtype)
        gates = xp.empty((T, B, 4 * H), dtype=xg.dtype)
        cs = xp.empty((T, B, H), dtype=xg.dtype)
        tcs = xp.empty((T, B, H), dtype=xg.dtype)
        # h_t before the projection, and the projection's (H, P) transpose
        raw = None if w_hr is None else xp.empty((B, H), dtype=xg.dtype)
        wrt = None if w_hr is None else xp.ascontiguousarray(w_hr.T)
        k = _kernels(xg, h0, c0, w_hh)
        if k is not None:   # per step: matmul, kernel, tanh, kernel, tanh, product
            _check_shapes(xg, h0, w_hh, 4, bf, c0, w_hr=w_hr)
            x3, c0c = xp.ascontiguousarray(xg), xp.ascontiguousarray(c0)
            ws = xp.array(w_hh.T, order="C")   # a copy (never a view of the weight)
            ws[:, :2 * H] *= 0.5               # sigmoid(a) = (1 + tanh(a / 2)) / 2
            ws[:, 3 * H:] *= 0.5
            h, c = h0, c0
            for t in _order(T, reverse):
                z = gates[t]
                xp.matmul(h, ws, out=z)
                k.lstm_preact(z, x3, t, bf)
                xp.tanh(z, out=z)
                k.lstm_cell(z, t, _prev(t, T, reverse), cs, c0c)
                xp.tanh(cs[t], out=tcs[t])
                h = out[:, t] if bf else out[t]
                if raw is None:
                    xp.multiply(z[:, 3 * H:], tcs[t], out=h)
                else:
                    xp.matmul(xp.multiply(z[:, 3 * H:], tcs[t], out=raw), wrt, out=h)
                c = cs[t]
            return out, xp.array(h), xp.array(c), gates, cs, tcs
        # BLAS multiplies by a transposed view ~1.4x slower than by a contiguous copy at
        # these sizes (32x128 @ 128x512): one copy per call pays back on every step.
        wt = xp.ascontiguousarray(w_hh.T)
        tanh_g = xp.empty((B, H), dtype=xg.dtype)
        ig = xp.empty((B, H), dtype=xg.dtype)
        h, c = h0, c0
        with xp.errstate(over="ignore"):
            for t in _order(T, reverse):
                z, ct, tct = gates[t], cs[t], tcs[t]
                ht = out[:, t] if bf else out[t]
                xp.matmul(h, wt, out=z)
                z += xg[:, t] if bf else xg[t]
                xp.tanh(z[:, 2 * H:3 * H], out=tanh_g)
                _sigmoid_(z)          # the whole row (one call instead of two) ...
                z[:, 2 * H:3 * H] = tanh_g   # ... then the g gate gets its tanh back
                xp.multiply(z[:, H:2 * H], c, out=ct)
                xp.multiply(z[:, :H], tanh_g, out=ig)
                ct += ig
                xp.tanh(ct, out=tct)
                if raw is None:
                    xp.multiply(tct, z[:, 3 * H:], out=ht)
                else:
                    xp.matmul(xp.multiply(tct, z[:, 3 * H:], out=raw), wrt, out=ht)
                h, c = ht, ct
        return out, xp.array(h, dtype=xg.dtype), xp.array(c, dtype=xg.dtype), gates, cs, tcs

    def infer(xg, h0, c0, w_hh, w_hr=None, *, reverse, batch_first):
        H, P = _check_lstm(xg, h0, c0, w_hh, w_hr)
        _, seq = _layout(xg, P, batch_first)
        T = xg.shape[1] if batch_first else xg.shape[0]
        B = h0.shape[0]
        return (Meta(seq, xg.dtype), Meta((B, P), xg.dtype), Meta((B, H), xg.dtype),
                Meta((T, B, None if H is None else 4 * H), xg.dtype),
                Meta((T, B, H), xg.dtype), Meta((T, B, H), xg.dtype))

    def vjp(g, out, xg, h0, c0, w_hh, w_hr=None, *, reverse, batch_first, needs):
        extra = () if w_hr is None else (w_hr,)
        if _differentiable_grad(xg, h0, c0, w_hh, w_hr, *g):
            return _composed_vjp(lstm_reference, (xg, h0, c0, w_hh) + extra, needs,
                                 list(g[:3]), reverse=reverse, batch_first=batch_first)
        return apply(LstmLayerBackward, g[0], g[1], g[2], out[3], out[4], out[5], h0, c0,
                     w_hh, *extra, reverse=reverse, batch_first=batch_first,
                     proj=w_hr is not None)


def _check_lstm(xg, h0, c0, w_hh, w_hr):
    """The LSTM layer's shape/dtype rule; returns (hidden size H, output size P)."""
    if w_hr is None:
        H = _check("lstm_layer", xg, h0, w_hh, 4, c0=c0)
        return H, H
    for label, t in (("w_hr", w_hr),):
        if t.dtype != xg.dtype:
            raise DTypeError(f"lstm_layer: {label} has dtype {t.dtype}, expected {xg.dtype} "
                             "(the input's)")
    if w_hr.ndim != 2:
        raise ShapeError(f"lstm_layer: expected a 2-d w_hr, got {shape_str(w_hr.shape)}")
    P, H = w_hr.shape
    if None not in (H, w_hh.shape[0]) and w_hh.shape[0] != 4 * H or \
            None not in (P, w_hh.shape[1]) and w_hh.shape[1] != P:
        raise ShapeError(f"lstm_layer: w_hh of shape {shape_str(w_hh.shape)} is not "
                         f"(4 * hidden_size, proj_size) = (4 * {H}, {P}) for w_hr of shape "
                         f"{shape_str(w_hr.shape)}")
    # the rest as without projections, on a stand-in (4H, H) recurrent weight
    _check("lstm_layer", xg, Meta((h0.shape[0], H), h0.dtype), Meta((w_hh.shape[0], H),
                                                                      w_hh.dtype), 4, c0=c0)
    if None not in (h0.shape[1], P) and h0.shape[1] != P:
        raise ShapeError(f"lstm_layer: h0 of shape {shape_str(h0.shape)} does not have "
                         f"proj_size = {P} features")
    return H, P


@register_op("lstm_layer_backward", saves="none", num_outputs=lambda **a: 5 if a["proj"] else 4)
class LstmLayerBackward:
    """Backpropagation through time of ``lstm_layer``: gradients of (xg, h0, c0, w_hh
    [, w_hr]) from those of (output, h_n, c_n) and the forward's residuals (time-major
    gates, c_t, tanh c_t): it never reads the layer's visible outputs, so those may be
    changed in place before backward, as PyTorch allows. ``proj``: whether ``w_hr`` is
    given (it sets the number of outputs)."""

    def forward(xp, g_out, g_hn, g_cn, gates, cs, tcs, h0, c0, w_hh, w_hr=None, *, reverse,
                batch_first, proj):
        bf = batch_first
        H = c0.shape[1]
        T, B = gates.shape[:2]
        P = H if w_hr is None else w_hr.shape[0]
        if g_out.shape != ((B, T, P) if bf else (T, B, P)):
            raise ValueError("shape mismatch")
        dz = xp.empty(((B, T, 4 * H) if bf else (T, B, 4 * H)), dtype=gates.dtype)
        dh = xp.array(g_hn, dtype=gates.dtype)          # the gradient of h_t (B, P)
        dc = xp.array(g_cn, dtype=gates.dtype)
        # with projections: the full gradient of each h_t (for d W_hr), and of o_t tanh(c_t)
        dhs = None if w_hr is None else xp.empty((T, B, P), dtype=gates.dtype)
        draw = dh if w_hr is None else xp.empty((B, H), dtype=gates.dtype)
        k = _kernels(gates, g_out, h0, c0, w_hh)
        if k is not None:   # one kernel and one matmul per step, no factor arrays
            _check_shapes(gates, h0, w_hh, 4, False, c0, w_hr=w_hr)
            g3, c0c = xp.ascontiguousarray(g_out), xp.ascontiguousarray(c0)
            for t in _order(T, not reverse):
                if dhs is not None:
                    xp.add(dh, g3[:, t] if bf else g3[t], out=dhs[t])
                    xp.matmul(dhs[t], w_hr, out=draw)
                k.lstm_backward_step(gates, cs, tcs, t, _prev(t, T, reverse), c0c,
                                     g3 if dhs is None else None, bf, draw, dc, dz)
                xp.matmul(dz[:, t] if bf else dz[t], w_hh, out=dh)
            return _lstm_grads(xp, dz, dh, dc, dhs, gates, tcs, h0, w_hr, H, reverse, bf)
        i, f, gg, o = (gates[..., k * H:(k + 1) * H] for k in range(4))
        # Every factor that does not depend on the recurrence, for all steps at once
        # (whole-array calls); the loop below is then six small calls and one matmul.
        d_o = 1 - o                          # d z_o / d dh: tanh(c) * o * (1 - o)
        d_o *= o
        d_o *= tcs
        d_c = tcs * tcs                      # d c / d h: o * (1 - tanh(c)^2)
        xp.subtract(1, d_c, out=d_c)
        d_c *= o
        d_ifg = xp.empty((T, B, 3, H), dtype=gates.dtype)   # d z_{i,f,g} / d c
        di, df, dg = d_ifg[:, :, 0], d_ifg[:, :, 1], d_ifg[:, :, 2]
        xp.subtract(1, i, out=di)            # g * i * (1 - i)
        di *= i
        di *= gg
        xp.subtract(1, f, out=df)            # c_{t-1} * f * (1 - f)
        df *= f
        df *= _shifted(cs, c0, reverse, False)
        xp.multiply(gg, gg, out=dg)          # i * (1 - g^2)
        xp.subtract(1, dg, out=dg)
        dg *= i
        dz4 = dz.reshape(dz.shape[:2] + (4, H))    # a view: dz is contiguous
        tmp = xp.empty((B, H), dtype=gates.dtype)
        for t in _order(T, not reverse):
            dzt, dz4t = (dz[:, t], dz4[:, t]) if bf else (dz[t], dz4[t])
            if dhs is None:
                dh += g_out[:, t] if bf else g_out[t]
            else:
                xp.add(dh, g_out[:, t] if bf else g_out[t], out=dhs[t])
                xp.matmul(dhs[t], w_hr, out=draw)
            xp.multiply(draw, d_o[t], out=dz4t[:, 3])
            xp.multiply(draw, d_c[t], out=tmp)
            dc += tmp
            xp.multiply(dc[:, None, :], d_ifg[t], out=dz4t[:, :3])
            dc *= f[t]
            xp.matmul(dzt, w_hh, out=dh)
        return _lstm_grads(xp, dz, dh, dc, dhs, gates, tcs, h0, w_hr, H, reverse, bf)

    def infer(g_out, g_hn, g_cn, gates, cs, tcs, h0, c0, w_hh, w_hr=None, *, reverse,
              batch_first, proj):
        H = c0.shape[1]
        seq = tuple(g_out.shape)
        metas = (Meta(seq[:-1] + (None if H is None else 4 * H,), gates.dtype),
                 Meta(tuple(h0.shape), h0.dtype), Meta(tuple(c0.shape), c0.dtype),
                 Meta(tuple(w_hh.shape), w_hh.dtype))
        return metas if w_hr is None else metas + (Meta(tuple(w_hr.shape), w_hr.dtype),)


def _lstm_grads(xp, dz, dh, dc, dhs, gates, tcs, h0, w_hr, H, reverse, bf):
    """(dxg, dh0, dc0, dW_hh[, dW_hr]) once the steps are done: the weight gradients are
    one matmul each over the whole sequence."""
    raw = gates[..., 3 * H:] * tcs           # o_t tanh(c_t), (T, B, H)
    if w_hr is None:
        return dz, dh, dc, _lstm_weight_grad(xp, dz, raw, h0, H, reverse, bf)
    T, B = raw.shape[:2]
    P = w_hr.shape[0]
    hs = (raw.reshape(-1, H) @ w_hr.T).reshape(T, B, P)      # the projected h_t
    dw_hr = dhs.reshape(-1, P).T @ raw.reshape(-1, H)
    return dz, dh, dc, _lstm_weight_grad(xp, dz, hs, h0, H, reverse, bf), dw_hr


def _lstm_weight_grad(xp, dz, hs, h0, H, reverse, bf):
    """d W_hh = sum_t dz_t^T h_{t-1}, one matmul over the sequence. h_t (``hs``,
    time-major) is recomputed from the residuals (the values the forward wrote) rather
    than read from the visible output, which the caller may change in place."""
    hprev = _shifted(hs, h0, reverse, False)
    if bf:
        hprev = hprev.transpose(1, 0, 2)
    return dz.reshape(-1, 4 * H).T @ hprev.reshape(-1, hs.shape[2])


def lstm_reference(m, xg, h0, c0, w_hh, w_hr=None, *, reverse=False, batch_first=False):
    """``lstm_layer`` step by step with the ops of module ``m`` (``yingshe`` or ``torch``;
    None means yingshe): the differentiable form and a reference. With ``w_hr`` (an LSTM
    with projections, ``proj_size``), h_t = W_hr (o_t * tanh(c_t))."""
    if m is None:
        import yingshe as m
    T = xg.shape[1 if batch_first else 0]
    h, c = h0, c0
    outs = [None] * T
    for t in _order(T, reverse):
        z = (xg[:, t] if batch_first else xg[t]) + m.matmul(h, w_hh.t())
        i, f, g, o = z.chunk(4, -1)
        c = m.sigmoid(f) * c + m.sigmoid(i) * m.tanh(g)
        h = m.sigmoid(o) * m.tanh(c)
        if w_hr is not None:
            h = m.matmul(h, w_hr.t())
        outs[t] = h
    return m.stack(outs, 1 if batch_first else 0), h, c


def lstm_layer(xg, h0, c0, w_hh, reverse=False, batch_first=False, w_hr=None):
    """Run one LSTM layer: returns (output, h_n, c_n) (see the module docstring); with
    ``w_hr`` (P, H), the projected LSTM of PyTorch's ``proj_size``."""
    extra = () if w_hr is None else (w_hr,)
    return apply(LstmLayer, xg, h0, c0, w_hh, *extra, reverse=bool(reverse),
                 batch_first=bool(batch_first))


# ---- GRU ------------------------------------------------------------------------------------

@register_op("gru_layer", saves="both", num_outputs=4, hidden=2)
class GruLayer:
    """One GRU layer over a whole sequence; hidden outputs: gate activations (r, z, n)
    and ``W_hn h + b_hn`` per step."""

    def forward(xp, xg, h0, w_hh, b_hh=None, *, reverse, batch_first):
        bf = batch_first
        T = xg.shape[1] if bf else xg.shape[0]
        H = w_hh.shape[1]
        B = h0.shape[0]
        seq = (B, T, H) if bf else (T, B, H)
        out = xp.empty(seq, dtype=xg.dtype)
        hns = xp.empty(seq, dtype=xg.dtype)
        gates = xp.empty(xg.shape, dtype=xg.dtype)
        wt = w_hh.T
        k = _kernels(xg, h0, w_hh)
        if k is not None:   # per step: matmul, kernel, tanh, kernel, tanh, kernel
            _check_shapes(xg, h0, w_hh, 3, bf, b=b_hh)
            x3, h0c = xp.ascontiguousarray(xg), xp.ascontiguousarray(h0)
            bias = xp.zeros(3 * H, xg.dtype) if b_hh is None else xp.ascontiguousarray(b_hh)
            wh = xp.array(wt, order="C")   # a copy (never a view of the weight)
            wh[:, :2 * H] *= 0.5           # sigmoid(a) = (1 + tanh(a / 2)) / 2
            hg = xp.empty((B, 3 * H), dtype=xg.dtype)
            h = h0
            for t in _order(T, reverse):
                xp.matmul(h, wh, out=hg)
                k.gru_preact(hg, bias, x3, t, bf, gates, hns)
                gt = gates[:, t] if bf else gates[t]
                xp.tanh(gt[:, :2 * H], out=gt[:, :2 * H])
                k.gru_candidate(x3, t, bf, gates, hns)
                xp.tanh(gt[:, 2 * H:], out=gt[:, 2 * H:])
                k.gru_output(gates, t, _prev(t, T, reverse), bf, h0c, out)
                h = out[:, t] if bf else out[t]
            return out, xp.array(h, dtype=xg.dtype), gates, hns
        h = h0
        with xp.errstate(over="ignore"):
            for t in _order(T, reverse):
                if bf:
                    xt, gt, ht, nt = xg[:, t], gates[:, t], out[:, t], hns[:, t]
                else:
                    xt, gt, ht, nt = xg[t], gates[t], out[t], hns[t]
                hg = h @ wt
                if b_hh is not None:
                    hg += b_hh
                rz = hg[:, :2 * H]
                rz += xt[:, :2 * H]
                gt[:, :2 * H] = _sigmoid_(rz)
                nt[...] = hg[:, 2 * H:]
                n = gt[:, 2 * H:]
                xp.multiply(gt[:, :H], nt, out=n)
                n += xt[:, 2 * H:]
                xp.tanh(n, out=n)
                xp.subtract(h, n, out=ht)      # h' = (h - n) * z + n
                ht *= gt[:, H:2 * H]
                ht += n
                h = ht
        return out, xp.array(h, dtype=xg.dtype), gates, hns

    def infer(xg, h0, w_hh, b_hh=None, *, reverse, batch_first):
        H = _check("gru_layer", xg, h0, w_hh, 3, b=b_hh)
        B, seq = _layout(xg, H, batch_first)
        return (Meta(seq, xg.dtype), Meta((h0.shape[0], H), xg.dtype),
                Meta(tuple(xg.shape), xg.dtype), Meta(seq, xg.dtype))

    def vjp(g, out, xg, h0, w_hh, b_hh=None, *, reverse, batch_first, needs):
        if _differentiable_grad(xg, h0, w_hh, b_hh, *g):
            return _composed_vjp(gru_reference, (xg, h0, w_hh, b_hh), needs, list(g[:2]),
                                 reverse=reverse, batch_first=batch_first)
        dx, dh0, dw, db = apply(GruLayerBackward, g[0], g[1], out[2], out[3], out[0], h0, w_hh,
                                reverse=reverse, batch_first=batch_first)
        return dx, dh0, dw, (db if b_hh is not None else None)


@register_op("gru_layer_backward", saves="none", num_outputs=4)
class GruLayerBackward:
    """Backpropagation through time of ``gru_layer``: gradients of (xg, h0, w_hh, b_hh)."""

    def forward(xp, g_out, g_hn, gates, hns, out, h0, w_hh, *, reverse, batch_first):
        bf = batch_first
        H = w_hh.shape[1]
        T = gates.shape[1] if bf else gates.shape[0]
        kern = _kernels(gates, g_out, h0, w_hh)
        if kern is not None:   # one kernel and one matmul per step, no factor arrays
            _check_shapes(gates, h0, w_hh, 3, bf)
            if g_out.shape != out.shape or hns.shape != out.shape:
                raise ValueError("shape mismatch")
            dx = xp.empty(gates.shape, dtype=gates.dtype)
            dhg = xp.empty(gates.shape, dtype=gates.dtype)
            dh = xp.array(g_hn, dtype=gates.dtype)
            g3, h0c = xp.ascontiguousarray(g_out), xp.ascontiguousarray(h0)
            tmp = xp.empty_like(dh)
            for t in _order(T, not reverse):
                kern.gru_backward_step(gates, hns, out, t, _prev(t, T, reverse), h0c, g3, bf,
                                       dh, dx, dhg)
                dh += xp.matmul(dhg[:, t] if bf else dhg[t], w_hh, out=tmp)
            hprev = _shifted(out, h0, reverse, bf)
            dw = dhg.reshape(-1, 3 * H).T @ hprev.reshape(-1, H)
            return dx, dh, dw, dhg.reshape(-1, 3 * H).sum(0)
        r, z, n = (gates[..., k * H:(k + 1) * H] for k in range(3))
        hprev = _shifted(out, h0, reverse, bf)
        dn_f = (1 - z) * (1 - n * n)            # d h' / d n_pre
        dz_f = (hprev - n) * (z * (1 - z))      # d h' / d z_pre
        dr_f = hns * (r * (1 - r))              # d n_pre / d r_pre
        dx = xp.empty(gates.shape, dtype=gates.dtype)
        dhg = xp.empty(gates.shape, dtype=gates.dtype)
        dh = xp.array(g_hn, dtype=gates.dtype)
        for t in _order(T, not reverse):
            s = (slice(None), t) if bf else (t,)
            dxt, dgt = dx[s], dhg[s]
            dh += g_out[s]
            dnp = dxt[:, 2 * H:]
            xp.multiply(dh, dn_f[s], out=dnp)
            xp.multiply(dh, dz_f[s], out=dxt[:, H:2 * H])
            xp.multiply(dnp, dr_f[s], out=dxt[:, :H])
            dgt[:, :2 * H] = dxt[:, :2 * H]
            xp.multiply(dnp, r[s], out=dgt[:, 2 * H:])
            dh *= z[s]
            dh += dgt @ w_hh
        dw = dhg.reshape(-1, 3 * H).T @ hprev.reshape(-1, H)
        db = dhg.reshape(-1, 3 * H).sum(0)
        return dx, dh, dw, db

    def infer(g_out, g_hn, gates, hns, out, h0, w_hh, *, reverse, batch_first):
        return (Meta(tuple(gates.shape), gates.dtype), Meta(tuple(h0.shape), h0.dtype),
                Meta(tuple(w_hh.shape), w_hh.dtype), Meta((w_hh.shape[0],), w_hh.dtype))


def gru_reference(m, xg, h0, w_hh, b_hh=None, *, reverse=False, batch_first=False):
    """``gru_layer`` step by step with the ops of ``m`` (None: yingshe)."""
    if m is None:
        import yingshe as m
    T = xg.shape[1 if batch_first else 0]
    h = h0
    outs = [None] * T
    for t in _order(T, reverse):
        xr, xz, xn = (xg[:, t] if batch_first else xg[t]).chunk(3, -1)
        hg = m.matmul(h, w_hh.t())
        if b_hh is not None:
            hg = hg + b_hh
        hr, hz, hn = hg.chunk(3, -1)
        r = m.sigmoid(xr + hr)
        z = m.sigmoid(xz + hz)
        n = m.tanh(xn + r * hn)
        h = (h - n) * z + n
        outs[t] = h
    return m.stack(outs, 1 if batch_first else 0), h


def gru_layer(xg, h0, w_hh, b_hh=None, reverse=False, batch_first=False):
    """Run one GRU layer: returns (output, h_n)."""
    return apply(GruLayer, xg, h0, w_hh, b_hh, reverse=bool(reverse),
                 batch_first=bool(batch_first))


# ---- Elman RNN ------------------------------------------------------------------------------

_NONLINEARITIES = ("tanh", "relu")


@register_op("rnn_layer", saves="both", num_outputs=2)
class RnnLayer:
    """One Elman RNN layer (tanh or relu) over a whole sequence."""

    def forward(xp, xg, h0, w_hh, *, nonlinearity, reverse, batch_first):
        bf = batch_first
        T = xg.shape[1] if bf else xg.shape[0]
        out = xp.empty(xg.shape, dtype=xg.dtype)
        wt = w_hh.T
        h = h0
        for t in _order(T, reverse):
            ht = out[:, t] if bf else out[t]
            ht[...] = h @ wt
            ht += xg[:, t] if bf else xg[t]
            if nonlinearity == "tanh":
                xp.tanh(ht, out=ht)
            else:
                xp.maximum(ht, 0, out=ht)
            h = ht
        return out, xp.array(h, dtype=xg.dtype)

    def infer(xg, h0, w_hh, *, nonlinearity, reverse, batch_first):
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"rnn_layer: unknown nonlinearity {nonlinearity!r}")
        H = _check("rnn_layer", xg, h0, w_hh, 1)
        B, seq = _layout(xg, H, batch_first)
        return Meta(seq, xg.dtype), Meta((h0.shape[0], H), xg.dtype)

    def vjp(g, out, xg, h0, w_hh, *, nonlinearity, reverse, batch_first, needs):
        if _differentiable_grad(xg, h0, w_hh, *g):
            return _composed_vjp(rnn_reference, (xg, h0, w_hh), needs, list(g),
                                 nonlinearity=nonlinearity, reverse=reverse,
                                 batch_first=batch_first)
        return apply(RnnLayerBackward, g[0], g[1], out[0], h0, w_hh, nonlinearity=nonlinearity,
                     reverse=reverse, batch_first=batch_first)


@register_op("rnn_layer_backward", saves="none", num_outputs=3)
class RnnLayerBackward:
    """Backpropagation through time of ``rnn_layer``: gradients of (xg, h0, w_hh)."""

    def forward(xp, g_out, g_hn, out, h0, w_hh, *, nonlinearity, reverse, batch_first):
        bf = batch_first
        H = w_hh.shape[1]
        T = out.shape[1] if bf else out.shape[0]
        act = 1 - out * out if nonlinearity == "tanh" else (out > 0).astype(out.dtype)
        dx = xp.empty(out.shape, dtype=out.dtype)
        dh = xp.array(g_hn, dtype=out.dtype)
        for t in _order(T, not reverse):
            s = (slice(None), t) if bf else (t,)
            dxt = dx[s]
            dh += g_out[s]
            xp.multiply(dh, act[s], out=dxt)
            dh = dxt @ w_hh
        hprev = _shifted(out, h0, reverse, bf)
        dw = dx.reshape(-1, H).T @ hprev.reshape(-1, H)
        return dx, dh, dw

    def infer(g_out, g_hn, out, h0, w_hh, *, nonlinearity, reverse, batch_first):
        return (Meta(tuple(out.shape), out.dtype), Meta(tuple(h0.shape), h0.dtype),
                Meta(tuple(w_hh.shape), w_hh.dtype))


def rnn_reference(m, xg, h0, w_hh, *, nonlinearity="tanh", reverse=False, batch_first=False):
    """``rnn_layer`` step by step with the ops of ``m`` (None: yingshe)."""
    if m is None:
        import yingshe as m
    act = m.tanh if nonlinearity == "tanh" else m.relu
    T = xg.shape[1 if batch_first else 0]
    h = h0
    outs = [None] * T
    for t in _order(T, reverse):
        h = act((xg[:, t] if batch_first else xg[t]) + m.matmul(h, w_hh.t()))
        outs[t] = h
    return m.stack(outs, 1 if batch_first else 0), h


def rnn_layer(xg, h0, w_hh, nonlinearity="tanh", reverse=False, batch_first=False):
    """Run one Elman RNN layer: returns (output, h_n)."""
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"rnn_layer: unknown nonlinearity {nonlinearity!r}")
    return apply(RnnLayer, xg, h0, w_hh, nonlinearity=nonlinearity, reverse=bool(reverse),
                 batch_first=bool(batch_first))
