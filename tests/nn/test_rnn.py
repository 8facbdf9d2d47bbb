"""nn.RNN / nn.LSTM / nn.GRU and their cells against PyTorch (same weights): outputs,
final states, input/state/parameter gradients, parameter names/shapes, init."""

import math
import warnings

import numpy as np
import pytest

import yingshe
from yingshe import nn
from yingshe.errors import ShapeError
from yingshe.testing import check_second_order
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

MODES = {"LSTM": ("LSTM", {}), "GRU": ("GRU", {}), "RNN_TANH": ("RNN", {}),
         "RNN_RELU": ("RNN", {"nonlinearity": "relu"})}


def _pair(mode, *args, **kwargs):
    torch = import_torch()
    name, extra = MODES[mode]
    kwargs = {**extra, **kwargs}
    return getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


def _load(ym, tm, dtype):
    torch = import_torch()
    ym.double() if dtype == np.float64 else ym.float()
    tm.double() if dtype == np.float64 else tm.float()
    ym.zero_grad()
    tm.zero_grad()
    ysd, tsd = ym.state_dict(), tm.state_dict()
    assert list(ysd) == list(tsd)
    tm.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True))
                        for k, v in ysd.items()})


def _flat(out):
    """Flatten (output, h) / (output, (h, c)) into a list of tensors."""
    res = []
    for o in out if isinstance(out, tuple) else (out,):
        res.extend(_flat(o) if isinstance(o, tuple) else [o])
    return res


def _compare(ym, tm, inputs, dtype, *, atol_scale=1.0, call=None):
    """Run both modules on ``inputs`` (NumPy arrays or nested tuples of them, or None),
    compare every output, then backprop random cotangents and compare the gradients of
    every input and parameter."""
    torch = import_torch()
    _load(ym, tm, dtype)
    rtol, atol = tol("reference", dtype)
    atol *= atol_scale
    leaves_y, leaves_t = [], []

    def conv(a, mk, leaves):
        if a is None:
            return None
        if isinstance(a, tuple):
            return tuple(conv(x, mk, leaves) for x in a)
        t = mk(np.asarray(a, dtype=dtype), requires_grad=True)
        leaves.append(t)
        return t

    yin = [conv(a, yingshe.tensor, leaves_y) for a in inputs]
    tin = [conv(a, torch.tensor, leaves_t) for a in inputs]
    call = call or (lambda m, *xs: m(*xs))
    youts, touts = _flat(call(ym, *yin)), _flat(call(tm, *tin))
    assert len(youts) == len(touts)
    rng = np.random.default_rng(3)
    ly = lt = 0
    for y, t in zip(youts, touts):
        assert tuple(y.shape) == tuple(t.shape)
        assert y.dtype.np == t.detach().numpy().dtype
        np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
        u = rng.standard_normal(tuple(t.shape)).astype(dtype)
        ly = ly + (y * yingshe.tensor(u)).sum()
        lt = lt + (t * torch.tensor(u)).sum()
    ly.backward()
    lt.backward()
    for a, b in zip(leaves_y, leaves_t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
    tparams = dict(tm.named_parameters())
    assert [n for n, _ in ym.named_parameters()] == list(tparams)
    for name, p in ym.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=rtol,
                                   atol=atol, err_msg=name)


def _states(mode, shape, rng):
    if mode == "LSTM":
        return (rng.standard_normal(shape), rng.standard_normal(shape))
    return rng.standard_normal(shape)


# ---- parameters and initialisation ------------------------------------------------------------

@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("num_layers,bidirectional,bias",
                         [(1, False, True), (2, True, True), (3, True, False)])
def test_parameter_names_and_shapes_match_torch(mode, num_layers, bidirectional, bias):
    ym, tm = _pair(mode, 5, 7, num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    assert [(n, tuple(p.shape)) for n, p in ym.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    assert list(ym.state_dict()) == list(tm.state_dict())
    assert [[n for n in names] for names in ym._all_weights] == tm._all_weights
    assert ym.mode == tm.mode


@pytest.mark.parametrize("mode", list(MODES))
def test_default_init_is_uniform_within_one_over_sqrt_hidden(mode):
    H = 16
    yingshe.manual_seed(0)
    ym, _ = _pair(mode, 8, H, num_layers=2)
    bound = 1 / math.sqrt(H)
    values = np.concatenate([p.detach().numpy().ravel() for p in ym.parameters()])
    assert np.all(np.abs(values) <= bound)
    assert values.max() > 0.9 * bound and values.min() < -0.9 * bound
    # roughly uniform: mean ~0, variance ~ bound^2 / 3
    assert abs(values.mean()) < 0.05 * bound
    assert abs(values.var() / (bound ** 2 / 3) - 1) < 0.1
    # drawn from the framework generator: reproducible under manual_seed
    yingshe.manual_seed(0)
    again, _ = _pair(mode, 8, H, num_layers=2)
    for p, q in zip(ym.parameters(), again.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_cell_parameters_and_init():
    torch = import_torch()
    for ycls, tcls, args in ((nn.RNNCell, torch.nn.RNNCell, (3, 4)),
                             (nn.LSTMCell, torch.nn.LSTMCell, (3, 4)),
                             (nn.GRUCell, torch.nn.GRUCell, (3, 4))):
        for bias in (True, False):
            ym, tm = ycls(*args, bias=bias), tcls(*args, bias=bias)
            assert [(n, tuple(p.shape)) for n, p in ym.named_parameters()] == \
                [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
            for p in ym.parameters():
                assert np.all(np.abs(p.detach().numpy()) <= 1 / math.sqrt(4))


# ---- parity with PyTorch ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_torch_float64(mode, num_layers, bidirectional, batch_first):
    rng = np.random.default_rng(0)
    T, B, I, H = 5, 3, 4, 6
    ym, tm = _pair(mode, I, H, num_layers=num_layers, bidirectional=bidirectional,
                   batch_first=batch_first)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    D = 2 if bidirectional else 1
    _compare(ym, tm, [x], np.float64)                                     # zero initial state
    _compare(ym, tm, [x, _states(mode, (num_layers * D, B, H), rng)], np.float64)


@pytest.mark.parametrize("mode", list(MODES))
def test_matches_torch_float32_long_sequence(mode):
    rng = np.random.default_rng(1)
    T, B, I, H = 24, 4, 8, 16
    ym, tm = _pair(mode, I, H, num_layers=2, bidirectional=True, batch_first=True)
    x = rng.standard_normal((B, T, I))
    # 24 steps of float32 recurrences accumulate rounding (each step's matmul sums H=16
    # products, and gradients flow back through all 24 steps); a 5x float32 atol covers it.
    _compare(ym, tm, [x, _states(mode, (4, B, H), rng)], np.float32, atol_scale=5.0)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input_matches_torch(mode, batch_first):
    rng = np.random.default_rng(2)
    T, I, H = 4, 3, 5
    ym, tm = _pair(mode, I, H, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = rng.standard_normal((T, I))
    _compare(ym, tm, [x], np.float64)
    _compare(ym, tm, [x, _states(mode, (4, H), rng)], np.float64)
    yo = ym(yingshe.tensor(x))
    assert tuple(yo[0].shape) == (T, 2 * H)


@pytest.mark.parametrize("mode", list(MODES))
def test_no_bias_matches_torch(mode):
    rng = np.random.default_rng(4)
    ym, tm = _pair(mode, 3, 4, num_layers=2, bias=False)
    _compare(ym, tm, [rng.standard_normal((5, 2, 3))], np.float64)


@pytest.mark.parametrize("name", ["RNNCell", "RNNCell-relu", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cells_match_torch(name, batched, bias, dtype):
    torch = import_torch()
    rng = np.random.default_rng(5)
    cls, kw = (name.split("-")[0], {"nonlinearity": "relu"} if "relu" in name else {})
    ym = getattr(nn, cls)(3, 4, bias=bias, **kw)
    tm = getattr(torch.nn, cls)(3, 4, bias=bias, **kw)
    lead = (2,) if batched else ()
    x = rng.standard_normal(lead + (3,))
    state = (rng.standard_normal(lead + (4,)), rng.standard_normal(lead + (4,))) \
        if cls == "LSTMCell" else rng.standard_normal(lead + (4,))
    _compare(ym, tm, [x], dtype)
    _compare(ym, tm, [x, state], dtype)


def test_cell_unrolled_equals_layer():
    """Stepping LSTMCell over a sequence gives nn.LSTM's output (same weights)."""
    rng = np.random.default_rng(6)
    lstm, cell = nn.LSTM(3, 4).double(), nn.LSTMCell(3, 4).double()
    for a, b in (("weight_ih_l0", "weight_ih"), ("weight_hh_l0", "weight_hh"),
                 ("bias_ih_l0", "bias_ih"), ("bias_hh_l0", "bias_hh")):
        getattr(cell, b).data = getattr(lstm, a).data
    x = yingshe.tensor(rng.standard_normal((5, 2, 3)))
    out, (h, c) = lstm(x)
    hc = None
    for t in range(5):
        hc = cell(x[t], hc)
        np.testing.assert_allclose(hc[0].detach().numpy(), out[t].detach().numpy(),
                                   rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hc[1].detach().numpy(), c[0].detach().numpy(), rtol=1e-12)


# ---- dropout, training mode -----------------------------------------------------------------

def test_inter_layer_dropout_only_in_training():
    torch = import_torch()  # noqa: F841 - parity of eval mode with PyTorch below
    rng = np.random.default_rng(7)
    ym, tm = _pair("LSTM", 3, 8, num_layers=2, dropout=0.5)
    x = rng.standard_normal((6, 4, 3))
    ym.eval()
    tm.eval()
    _compare(ym, tm, [x], np.float64)
    xt = yingshe.tensor(x)
    ref = ym(xt)[0].detach().numpy()
    ym.train()
    yingshe.manual_seed(0)
    a = ym(xt)[0].detach().numpy()
    yingshe.manual_seed(0)
    b = ym(xt)[0].detach().numpy()
    np.testing.assert_array_equal(a, b)          # drawn from the framework generator
    assert not np.allclose(a, ref)               # dropout acts between the layers
    # no dropout after the last layer: with one layer training equals eval
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = nn.GRU(3, 8, dropout=0.5).double()
    out_train = one(xt)[0].detach().numpy()
    one.eval()
    np.testing.assert_array_equal(out_train, one(xt)[0].detach().numpy())


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)


# ---- higher derivatives --------------------------------------------------------------------

@pytest.mark.parametrize("mode", list(MODES))
def test_second_order_through_module(mode):
    yingshe.manual_seed(0)
    ym, _ = _pair(mode, 2, 3, num_layers=1, bidirectional=True)
    ym.double()
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 2, 2))
    check_second_order(lambda xt: ym(xt)[0], [x], [0], rtol=1e-4, atol=1e-6)


# ---- errors --------------------------------------------------------------------------------

def test_proj_size_is_lstm_only_and_smaller_than_hidden_size():
    torch = import_torch()
    for make in (lambda m: m.nn.GRU(3, 4, proj_size=2), lambda m: m.nn.LSTM(3, 4, proj_size=4),
                 lambda m: m.nn.LSTM(3, 4, proj_size=-1)):
        with pytest.raises(ValueError, match="proj_size"):
            make(yingshe)
        with pytest.raises(ValueError):
            make(torch)


@pytest.mark.parametrize("num_layers,bidirectional,batch_first",
                         [(1, False, False), (2, True, False), (1, True, True)])
def test_lstm_with_projections_matches_torch(num_layers, bidirectional, batch_first):
    """proj_size: weight_hr_l{k}, h of size proj_size, h_0 (L*D, B, P), c_0 (L*D, B, H);
    outputs, states and every gradient equal PyTorch's."""
    rng = np.random.default_rng(4)
    T, B, I, H, P = 4, 3, 5, 6, 2
    ym, tm = _pair("LSTM", I, H, num_layers=num_layers, bidirectional=bidirectional,
                   batch_first=batch_first, proj_size=P)
    assert repr(ym) == repr(tm)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    D = 2 if bidirectional else 1
    _compare(ym, tm, [x], np.float64)
    states = (rng.standard_normal((num_layers * D, B, P)),
              rng.standard_normal((num_layers * D, B, H)))
    _compare(ym, tm, [x, states], np.float64)
    with pytest.raises(ShapeError, match="Expected hidden size"):
        ym(yingshe.tensor(x), (yingshe.tensor(states[1]), yingshe.tensor(states[1])))


def test_constructor_errors_match_torch():
    torch = import_torch()
    for args, kw, exc in (((3, 4), {"nonlinearity": "sigmoid"}, ValueError),
                          ((3, 4), {"dropout": 1.5}, ValueError),
                          ((3, 0), {}, ValueError),
                          ((3, 4), {"num_layers": 0}, ValueError)):
        with pytest.raises(exc):
            torch.nn.RNN(*args, **kw)
        with pytest.raises(exc):
            nn.RNN(*args, **kw)


def test_forward_shape_errors_match_torch_classes():
    torch = import_torch()
    ym, tm = nn.LSTM(3, 4, num_layers=2), torch.nn.LSTM(3, 4, num_layers=2)
    for x, hx, exc, match in (
            (np.zeros((5, 2, 7)), None, RuntimeError, "input.size(-1) must be equal to"),
            (np.zeros((5, 2, 3, 1)), None, ValueError, "Expected input to be 2D or 3D"),
            (np.zeros((5, 2, 3)), (np.zeros((1, 2, 4)), np.zeros((2, 2, 4))), RuntimeError,
             "Expected hidden size (2, 2, 4), got [1, 2, 4]"),
            (np.zeros((5, 3)), (np.zeros((2, 1, 4)), np.zeros((2, 1, 4))), RuntimeError,
             "hx should also be 2-D")):
        with pytest.raises(exc):
            tm(torch.tensor(x, dtype=torch.float32),
               None if hx is None else tuple(torch.tensor(h, dtype=torch.float32) for h in hx))
        with pytest.raises(exc, match=match.replace("(", r"\(").replace(")", r"\)")
                           .replace("[", r"\[").replace("]", r"\]")) as info:
            ym(yingshe.tensor(x, dtype=yingshe.float32),
               None if hx is None else tuple(yingshe.tensor(h, dtype=yingshe.float32)
                                             for h in hx))
        assert "test_rnn.py" in str(info.value) or exc is ValueError


def test_cell_errors():
    cell = nn.GRUCell(3, 4)
    with pytest.raises(ShapeError, match="inconsistent input_size"):
        cell(yingshe.zeros(2, 5))
    with pytest.raises(ShapeError, match="batch size"):
        cell(yingshe.zeros(2, 3), yingshe.zeros(3, 4))
    with pytest.raises(ValueError, match="1D or 2D"):
        cell(yingshe.zeros(2, 2, 3))


def test_repr_matches_torch():
    torch = import_torch()
    for kw in ({}, {"num_layers": 2, "batch_first": True, "bidirectional": True},
               {"bias": False, "dropout": 0.5, "num_layers": 2}):
        assert repr(nn.LSTM(3, 4, **kw)) == repr(torch.nn.LSTM(3, 4, **kw))


def test_rnn_positional_nonlinearity_like_torch():
    torch = import_torch()
    ym, tm = nn.RNN(3, 4, 2, "relu", False), torch.nn.RNN(3, 4, 2, "relu", False)
    assert ym.nonlinearity == "relu" and ym.mode == tm.mode == "RNN_RELU"
    assert ym.bias is False and [n for n, _ in ym.named_parameters()] == \
        [n for n, _ in tm.named_parameters()]


# ---- the step kernels: numba and NumPy -----------------------------------------------------

def _use_backend(monkeypatch, name):
    import os

    from yingshe.backend import jit
    if name == "numba" and not jit.available():
        if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1":
            pytest.fail("numba is required in CI (the jit extra) but cannot be imported")
        pytest.skip("numba is not installed")
    monkeypatch.setattr(jit, "_default", [name])


STEP_CASES = [("LSTM", {}), ("LSTM", {"proj_size": 2}), ("GRU", {}),
              ("LSTM", {"bidirectional": True, "num_layers": 2}),
              ("GRU", {"bidirectional": True, "batch_first": True}),
              ("LSTM", {"proj_size": 3, "bidirectional": True, "batch_first": True})]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode,kwargs", STEP_CASES,
                         ids=[f"{m}-{'-'.join(f'{k}{v}' for k, v in kw.items())}"
                              for m, kw in STEP_CASES])
def test_step_backends_match_torch(mode, kwargs, dtype, backend, monkeypatch):
    """Both implementations of a time step (numba kernels, NumPy calls) give PyTorch's
    outputs, final states and gradients, with given and zero initial states."""
    _use_backend(monkeypatch, backend)
    rng = np.random.default_rng(5)
    T, B, I, H = 7, 4, 3, 5
    ym, tm = _pair(mode, I, H, **kwargs)
    bf = kwargs.get("batch_first", False)
    x = rng.standard_normal((B, T, I) if bf else (T, B, I))
    _compare(ym, tm, [x], dtype)
    L = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    P = kwargs.get("proj_size") or H
    h0 = rng.standard_normal((L, B, P))
    states = (h0, rng.standard_normal((L, B, H))) if mode == "LSTM" else h0
    _compare(ym, tm, [x, states], dtype)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_numba_and_numpy_steps_agree(mode, monkeypatch):
    """The two step implementations agree with each other to round-off (float64: the
    graph-vs-eager tolerance), forward and backward, over a long sequence."""
    rng = np.random.default_rng(6)
    T, B, I, H = 40, 3, 4, 6
    x = rng.standard_normal((B, T, I))
    u = rng.standard_normal((B, T, 2 * H))
    results = []
    for backend in ("numba", "numpy"):
        _use_backend(monkeypatch, backend)
        yingshe.manual_seed(0)
        m = getattr(nn, mode)(I, H, batch_first=True, bidirectional=True).double()
        xt = yingshe.tensor(x, requires_grad=True)
        out, _ = m(xt)
        (out * yingshe.tensor(u)).sum().backward()
        results.append([out.detach().numpy(), xt.grad.numpy()]
                       + [p.grad.numpy() for p in m.parameters()])
    rtol, atol = tol("graph", np.float64)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def test_kernel_path_refuses_mismatched_shapes(monkeypatch):
    """The kernels index raw memory: a bad shape gets the shape rule's error."""
    from yingshe.ops import rnn as R
    _use_backend(monkeypatch, "numba")
    xg = yingshe.tensor(np.zeros((4, 3, 8)))
    with pytest.raises(ShapeError, match="gru_layer: input projection of shape"):
        R.gru_layer(xg, yingshe.tensor(np.zeros((3, 2))), yingshe.tensor(np.zeros((6, 2))))
    with pytest.raises(ShapeError, match="lstm_layer"):
        R.lstm_layer(yingshe.tensor(np.zeros((4, 3, 8))), yingshe.tensor(np.zeros((3, 3))),
                     yingshe.tensor(np.zeros((3, 2))), yingshe.tensor(np.zeros((8, 2))))
