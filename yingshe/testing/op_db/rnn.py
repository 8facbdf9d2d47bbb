"""Op-table records for the fused recurrent layers (yingshe/ops/rnn.py).

The NumPy references are plain loops over time; PyTorch runs the same recurrence
step by step with its own ops (``*_reference(torch, ...)``) and its own autograd.
The ``*_backward`` ops are reached through the forward op's VJP (gradient mode off)
and compared with PyTorch's gradients of the step-by-step recurrence.
"""

import numpy as np

from yingshe.errors import ShapeError
from yingshe.testing.op_db import ErrorCase, OpCase, gen, normal

T, B, H = 4, 3, 2


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _order(n, reverse):
    return range(n - 1, -1, -1) if reverse else range(n)


def _tm(a, bf):
    """To time-major."""
    return np.swapaxes(a, 0, 1) if bf else a


def _lstm_np(xg, h0, c0, w, w_hr=None, reverse=False, bf=False):
    xg = _tm(xg, bf)
    h, c = h0, c0
    out = np.empty(xg.shape[:2] + (h0.shape[1],))
    for t in _order(xg.shape[0], reverse):
        i, f, g, o = np.split(xg[t] + h @ w.T, 4, axis=-1)
        c = _sig(f) * c + _sig(i) * np.tanh(g)
        h = _sig(o) * np.tanh(c)
        if w_hr is not None:   # proj_size: h_t = W_hr (o_t tanh(c_t))
            h = h @ w_hr.T
        out[t] = h
    return _tm(out, bf), h, c


def _gru_np(xg, h0, w, b=None, reverse=False, bf=False):
    xg = _tm(xg, bf)
    h = h0
    out = np.empty(xg.shape[:2] + (h0.shape[1],))
    for t in _order(xg.shape[0], reverse):
        xr, xz, xn = np.split(xg[t], 3, axis=-1)
        hg = h @ w.T + (0 if b is None else b)
        hr, hz, hn = np.split(hg, 3, axis=-1)
        r, z = _sig(xr + hr), _sig(xz + hz)
        n = np.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        out[t] = h
    return _tm(out, bf), h


def _rnn_np(xg, h0, w, nl="tanh", reverse=False, bf=False):
    xg = _tm(xg, bf)
    h = h0
    out = np.empty(xg.shape)
    for t in _order(xg.shape[0], reverse):
        a = xg[t] + h @ w.T
        h = np.tanh(a) if nl == "tanh" else np.maximum(a, 0)
        out[t] = h
    return _tm(out, bf), h


def _ops(m):
    """(fused layer functions) for yingshe; the step-by-step references for torch."""
    from yingshe.ops import rnn as R
    if m.__name__ == "torch":
        return (lambda *a, **k: R.lstm_reference(m, *a, **k),
                lambda *a, **k: R.gru_reference(m, *a, **k),
                lambda *a, **k: R.rnn_reference(m, *a, **k))
    return (lambda *a, reverse=False, batch_first=False: R.lstm_layer(
                *a[:4], reverse, batch_first, w_hr=a[4] if len(a) > 4 else None),
            lambda *a, reverse=False, batch_first=False: R.gru_layer(*a, reverse=reverse,
                                                                     batch_first=batch_first),
            lambda *a, nonlinearity="tanh", reverse=False, batch_first=False:
            R.rnn_layer(*a, nonlinearity, reverse, batch_first))


def _lstm(reverse=False, bf=False):
    return lambda m, *xs: _ops(m)[0](*xs, reverse=reverse, batch_first=bf)


def _gru(reverse=False, bf=False):
    return lambda m, *xs: _ops(m)[1](*xs, reverse=reverse, batch_first=bf)


def _rnn(nl, reverse=False, bf=False):
    return lambda m, *xs: _ops(m)[2](*xs, nonlinearity=nl, reverse=reverse, batch_first=bf)


def _grads_of(fn, n_cot):
    """Call for a backward op: gradients of ``fn``'s outputs, paired with the first
    ``n_cot`` inputs as cotangents, with respect to the remaining float inputs."""
    def call(m, *xs):
        cots, args = xs[:n_cot], xs[n_cot:]
        args = [a.detach().requires_grad_(True) if hasattr(a, "detach") else a for a in args]
        outs = fn(m, *args)
        loss = sum((o * c).sum() for o, c in zip(outs, cots))
        return m.autograd.grad(loss, [a for a in args if hasattr(a, "detach")])
    return call


CASES = [
    OpCase("lstm_layer", _lstm(), gen(normal(T, B, 4 * H), normal(B, H), normal(B, H),
                                      normal(4 * H, H)), _lstm_np),
    OpCase("lstm_layer", _lstm(True, True),
           gen(normal(B, T, 4 * H), normal(B, H), normal(B, H), normal(4 * H, H)),
           lambda *a: _lstm_np(*a, reverse=True, bf=True), name="reverse-batch-first"),
    OpCase("lstm_layer", _lstm(), gen(normal(1, 1, 4 * H), normal(1, H), normal(1, H),
                                      normal(4 * H, H)), _lstm_np, name="one-step"),
    OpCase("lstm_layer", _lstm(), gen(normal(T, B, 4 * (H + 1)), normal(B, H),
                                      normal(B, H + 1), normal(4 * (H + 1), H),
                                      normal(H, H + 1)), _lstm_np, name="proj"),
    OpCase("lstm_layer", _lstm(True, True),
           gen(normal(B, T, 4 * (H + 1)), normal(B, H), normal(B, H + 1),
               normal(4 * (H + 1), H), normal(H, H + 1)),
           lambda *a: _lstm_np(*a, reverse=True, bf=True), name="proj-reverse-batch-first"),
    OpCase("gru_layer", _gru(), gen(normal(T, B, 3 * H), normal(B, H), normal(3 * H, H),
                                    normal(3 * H)), _gru_np),
    OpCase("gru_layer", _gru(True, True),
           gen(normal(B, T, 3 * H), normal(B, H), normal(3 * H, H), normal(3 * H)),
           lambda *a: _gru_np(*a, reverse=True, bf=True), name="reverse-batch-first"),
    OpCase("gru_layer", _gru(), gen(normal(T, B, 3 * H), normal(B, H), normal(3 * H, H)),
           _gru_np, name="no-bias"),
    OpCase("rnn_layer", _rnn("tanh"), gen(normal(T, B, H), normal(B, H), normal(H, H)),
           lambda *a: _rnn_np(*a, "tanh")),
    OpCase("rnn_layer", _rnn("relu", True, True), gen(normal(B, T, H), normal(B, H),
                                                      normal(H, H)),
           lambda *a: _rnn_np(*a, "relu", reverse=True, bf=True), name="relu-reverse-bf"),
    # the fused backward ops (reached through the forward ops' VJPs)
    OpCase("lstm_layer_backward", _grads_of(_lstm(), 3),
           gen(normal(T, B, H), normal(B, H), normal(B, H), normal(T, B, 4 * H), normal(B, H),
               normal(B, H), normal(4 * H, H)), grad=(), name=""),
    OpCase("lstm_layer_backward", _grads_of(_lstm(True, True), 3),
           gen(normal(B, T, H), normal(B, H), normal(B, H), normal(B, T, 4 * H), normal(B, H),
               normal(B, H), normal(4 * H, H)), grad=(), name="reverse-batch-first"),
    OpCase("lstm_layer_backward", _grads_of(_lstm(True, True), 3),
           gen(normal(B, T, H), normal(B, H), normal(B, H + 1), normal(B, T, 4 * (H + 1)),
               normal(B, H), normal(B, H + 1), normal(4 * (H + 1), H), normal(H, H + 1)),
           grad=(), name="proj-reverse-batch-first"),
    OpCase("gru_layer_backward", _grads_of(_gru(), 2),
           gen(normal(T, B, H), normal(B, H), normal(T, B, 3 * H), normal(B, H),
               normal(3 * H, H), normal(3 * H)), grad=()),
    OpCase("gru_layer_backward", _grads_of(_gru(True, True), 2),
           gen(normal(B, T, H), normal(B, H), normal(B, T, 3 * H), normal(B, H),
               normal(3 * H, H), normal(3 * H)), grad=(), name="reverse-batch-first"),
    OpCase("rnn_layer_backward", _grads_of(_rnn("tanh"), 2),
           gen(normal(T, B, H), normal(B, H), normal(T, B, H), normal(B, H), normal(H, H)),
           grad=()),
    OpCase("rnn_layer_backward", _grads_of(_rnn("relu", True, True), 2),
           gen(normal(B, T, H), normal(B, H), normal(B, T, H), normal(B, H), normal(H, H)),
           grad=(), name="relu-reverse-bf"),
]

ERRORS = [
    ErrorCase("lstm_layer", _lstm(), gen(normal(T, B, 4 * H), normal(B, H), normal(B, H),
                                         normal(3 * H, H)),
              ShapeError, "lstm_layer: w_hh of shape (6, 2) is not (4 * hidden_size"),
    ErrorCase("gru_layer", _gru(), gen(normal(T, B, 4 * H), normal(B, H), normal(3 * H, H)),
              ShapeError, "gru_layer: input projection of shape (4, 3, 8)"),
    ErrorCase("rnn_layer", _rnn("tanh"), gen(normal(T, B, H), normal(B, H + 1), normal(H, H)),
              ShapeError, "rnn_layer: h0 of shape (3, 3)"),
    ErrorCase("lstm_layer", _lstm(), gen(normal(T, B, 4 * (H + 1)), normal(B, H),
                                         normal(B, H + 1), normal(4 * (H + 1), H + 1),
                                         normal(H, H + 1)),
              ShapeError, "lstm_layer: w_hh of shape (12, 3) is not (4 * hidden_size, "
                          "proj_size)", name="proj-w_hh"),
]
