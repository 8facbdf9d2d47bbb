"""nn.MultiheadAttention, nn.TransformerEncoderLayer and nn.TransformerEncoder against
PyTorch (same weights, dropout off or eval mode): outputs, attention weights, input
and parameter gradients, parameter names/shapes, initialisation."""

import math
import warnings

import numpy as np
import pytest

import yingshe
from yingshe import nn
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol


def _load(ym, tm, dtype):
    torch = import_torch()
    ym.double() if dtype == np.float64 else ym.float()
    tm.double() if dtype == np.float64 else tm.float()
    ym.zero_grad()
    tm.zero_grad()
    ysd, tsd = ym.state_dict(), tm.state_dict()
    assert list(ysd) == list(tsd)
    for k in ysd:
        assert tuple(ysd[k].shape) == tuple(tsd[k].shape), k
    tm.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True))
                        for k, v in ysd.items()})


def _compare(ym, tm, inputs, dtype=np.float64, ykw=None, tkw=None, same_input=False):
    """Call both modules on ``inputs`` (float arrays: differentiable) with keyword
    arguments, compare outputs (tensors or None), then gradients of inputs and params."""
    torch = import_torch()
    _load(ym, tm, dtype)
    rtol, atol = tol("reference", dtype)
    yin = [yingshe.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in inputs]
    tin = [torch.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in inputs]
    if same_input:                      # self-attention: query is key is value
        yin, tin = yin * 3, tin * 3
    yo, to = ym(*yin, **(ykw or {})), tm(*tin, **(tkw or {}))
    yo = yo if isinstance(yo, tuple) else (yo,)
    to = to if isinstance(to, tuple) else (to,)
    rng = np.random.default_rng(11)
    ly = lt = 0
    for y, t in zip(yo, to):
        if t is None:
            assert y is None
            continue
        assert tuple(y.shape) == tuple(t.shape)
        np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
        u = rng.standard_normal(tuple(t.shape)).astype(dtype)
        ly = ly + (y * yingshe.tensor(u)).sum()
        lt = lt + (t * torch.tensor(u)).sum()
    ly.backward()
    lt.backward()
    for a, b in zip(yin, tin):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
    tparams = dict(tm.named_parameters())
    assert [n for n, _ in ym.named_parameters()] == list(tparams)
    for name, p in ym.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=rtol,
                                   atol=atol, err_msg=name)
    return yo, to


MHA_CONFIGS = [{}, {"bias": False}, {"add_bias_kv": True}, {"add_zero_attn": True},
               {"kdim": 5, "vdim": 3}, {"add_bias_kv": True, "add_zero_attn": True}]


def _mha(**kw):
    torch = import_torch()
    return nn.MultiheadAttention(8, 2, **kw), torch.nn.MultiheadAttention(8, 2, **kw)


# ---- parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize("kw", MHA_CONFIGS, ids=str)
def test_mha_parameters_match_torch(kw):
    ym, tm = _mha(**kw)
    assert [(n, tuple(p.shape)) for n, p in ym.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    assert type(ym.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(ym.out_proj, nn.Linear)
    assert ym._qkv_same_embed_dim == tm._qkv_same_embed_dim


def test_mha_default_init():
    yingshe.manual_seed(0)
    E = 32
    m = nn.MultiheadAttention(E, 4, add_bias_kv=True)
    w = m.in_proj_weight.detach().numpy()
    bound = math.sqrt(6 / (E + 3 * E))           # Xavier-uniform on (3E, E)
    assert np.all(np.abs(w) <= bound) and np.abs(w).max() > 0.9 * bound
    assert not np.any(m.in_proj_bias.detach().numpy())
    assert not np.any(m.out_proj.bias.detach().numpy())
    assert np.abs(m.out_proj.weight.detach().numpy()).max() <= 1 / math.sqrt(E)
    assert np.any(m.bias_k.detach().numpy()) and np.any(m.bias_v.detach().numpy())


def test_encoder_layer_parameters_match_torch():
    torch = import_torch()
    ym = nn.TransformerEncoderLayer(8, 2, 16)
    tm = torch.nn.TransformerEncoderLayer(8, 2, 16)
    assert [(n, tuple(p.shape)) for n, p in ym.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    ym = nn.TransformerEncoderLayer(8, 2, 16, bias=False)
    tm = torch.nn.TransformerEncoderLayer(8, 2, 16, bias=False)
    assert [n for n, _ in ym.named_parameters()] == [n for n, _ in tm.named_parameters()]


# ---- MultiheadAttention parity ------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("kw", MHA_CONFIGS, ids=str)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("average", [True, False])
def test_mha_matches_torch_with_masks(kw, batch_first, average):
    torch = import_torch()
    rng = np.random.default_rng(0)
    N, L, S = 3, 4, 6
    ym, tm = _mha(batch_first=batch_first, **kw)
    kd, vd = kw.get("kdim", 8), kw.get("vdim", 8)

    def seq(n, d):
        return rng.standard_normal((N, n, d) if batch_first else (n, N, d))

    q, k, v = seq(L, 8), seq(S, kd), seq(S, vd)
    kpm = np.zeros((N, S), bool)
    kpm[0, -2:] = True
    kpm[2, 0] = True
    am = rng.standard_normal((L, S))
    _compare(ym, tm, [q, k, v],
             ykw=dict(key_padding_mask=yingshe.tensor(kpm), attn_mask=yingshe.tensor(am),
                      average_attn_weights=average),
             tkw=dict(key_padding_mask=torch.tensor(kpm), attn_mask=torch.tensor(am),
                      average_attn_weights=average))


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_self_attention_no_weights_float32(batch_first):
    torch = import_torch()
    rng = np.random.default_rng(1)
    ym, tm = _mha(batch_first=batch_first)
    x = rng.standard_normal((3, 5, 8) if batch_first else (5, 3, 8))
    causal = np.triu(np.ones((5, 5), bool), 1)
    yo, _ = _compare(ym, tm, [x], np.float32, same_input=True,
                     ykw=dict(need_weights=False, attn_mask=yingshe.tensor(causal),
                              is_causal=True),
                     tkw=dict(need_weights=False, attn_mask=torch.tensor(causal),
                              is_causal=True))
    assert yo[1] is None


def test_mha_3d_float_mask_and_float_key_padding_mask():
    torch = import_torch()
    rng = np.random.default_rng(2)
    ym, tm = _mha()
    q, k = rng.standard_normal((4, 2, 8)), rng.standard_normal((5, 2, 8))
    am = rng.standard_normal((2 * 2, 4, 5))
    kpm = rng.standard_normal((2, 5))
    _compare(ym, tm, [q, k, k],
             ykw=dict(attn_mask=yingshe.tensor(am), key_padding_mask=yingshe.tensor(kpm)),
             tkw=dict(attn_mask=torch.tensor(am), key_padding_mask=torch.tensor(kpm)))


@pytest.mark.parametrize("kw", [{}, {"add_bias_kv": True, "add_zero_attn": True}], ids=str)
def test_mha_unbatched_matches_torch(kw):
    torch = import_torch()
    rng = np.random.default_rng(3)
    ym, tm = _mha(**kw)
    q, k = rng.standard_normal((4, 8)), rng.standard_normal((6, 8))
    kpm = np.array([False, False, True, False, False, True])
    yo, _ = _compare(ym, tm, [q, k, k],
                     ykw=dict(key_padding_mask=yingshe.tensor(kpm), average_attn_weights=False),
                     tkw=dict(key_padding_mask=torch.tensor(kpm), average_attn_weights=False))
    assert tuple(yo[0].shape) == (4, 8)


def test_mha_dropout_acts_in_training_only():
    torch = import_torch()  # noqa: F841
    rng = np.random.default_rng(4)
    ym, tm = _mha(dropout=0.5)
    ym.eval()
    tm.eval()
    x = rng.standard_normal((5, 2, 8))
    _compare(ym, tm, [x], same_input=True)
    xt = yingshe.tensor(x)
    ev = ym(xt, xt, xt, average_attn_weights=False)[1].detach().numpy()
    ym.train()
    tr = ym(xt, xt, xt, average_attn_weights=False)[1].detach().numpy()
    assert not np.allclose(ev, tr)
    # each weight is dropped (0) or scaled by 1 / (1 - p)
    ratio = tr[ev > 1e-9] / ev[ev > 1e-9]
    assert np.allclose(ratio[ratio != 0], 2.0)


def test_mha_errors():
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2)
    x = yingshe.zeros(3, 2, 8)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        m(x, x, x, attn_mask=yingshe.zeros(2, 3))
    with pytest.raises(RuntimeError, match="embedding dimension of 8"):
        y = yingshe.zeros(3, 2, 6)
        m(y, y, y)


# ---- TransformerEncoderLayer / TransformerEncoder --------------------------------------------

@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(norm_first, batch_first, activation):
    torch = import_torch()
    rng = np.random.default_rng(5)
    kw = dict(dim_feedforward=16, dropout=0.0, batch_first=batch_first, norm_first=norm_first,
              activation=activation)
    ym = nn.TransformerEncoderLayer(8, 2, **kw)
    tm = torch.nn.TransformerEncoderLayer(8, 2, **kw)
    x = rng.standard_normal((3, 4, 8))          # (N, L, E) or (L, N, E)
    L = 4 if batch_first else 3
    mask = np.triu(np.full((L, L), -np.inf), 1)
    _compare(ym, tm, [x])
    _compare(ym, tm, [x], ykw=dict(src_mask=yingshe.tensor(mask)),
             tkw=dict(src_mask=torch.tensor(mask)))
    kpm = np.zeros((3, 4) if batch_first else (4, 3), bool)   # (N, S)
    kpm[1, 0] = True
    _compare(ym, tm, [x], ykw=dict(src_key_padding_mask=yingshe.tensor(kpm)),
             tkw=dict(src_key_padding_mask=torch.tensor(kpm)))


def test_encoder_layer_eval_mode_float32_and_unbatched():
    torch = import_torch()
    rng = np.random.default_rng(6)
    ym = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3)
    tm = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3)
    ym.eval()
    tm.eval()
    _compare(ym, tm, [rng.standard_normal((5, 2, 8))], np.float32)
    _compare(ym, tm, [rng.standard_normal((5, 8))], np.float64)


@pytest.mark.parametrize("with_norm", [False, True])
def test_encoder_stack_matches_torch(with_norm):
    torch = import_torch()
    rng = np.random.default_rng(7)
    ylayer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    tlayer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ym = nn.TransformerEncoder(ylayer, 2, norm=nn.LayerNorm(8) if with_norm else None)
        tm = torch.nn.TransformerEncoder(tlayer, 2,
                                         norm=torch.nn.LayerNorm(8) if with_norm else None)
    # the copies are independent modules
    assert ym.layers[0].linear1.weight is not ym.layers[1].linear1.weight
    kpm = np.zeros((2, 5), bool)
    kpm[1, -2:] = True
    _compare(ym, tm, [rng.standard_normal((2, 5, 8))],
             ykw=dict(src_key_padding_mask=yingshe.tensor(kpm)),
             tkw=dict(src_key_padding_mask=torch.tensor(kpm)))


def test_encoder_layer_bad_activation():
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    # a callable is used as it is
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=yingshe.nn.functional.gelu)
    assert layer(yingshe.zeros(3, 1, 8)).shape == (3, 1, 8)
