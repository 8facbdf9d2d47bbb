"""Attention layers: ``MultiheadAttention``, ``TransformerEncoderLayer`` and
``TransformerEncoder`` (PyTorch's signatures, parameter names, initialisation and
mask conventions).

Masks follow ``torch.nn.MultiheadAttention``: a boolean ``attn_mask`` or
``key_padding_mask`` is True where attention is *not* allowed; a float mask is added
to the attention scores.

Example:
    >>> mha = nn.MultiheadAttention(16, 4, batch_first=True)
    >>> x = yingshe.randn(2, 5, 16)
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    ((2, 5, 16), (2, 5, 5))
"""

from __future__ import annotations

import copy
import math

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor, _wrap
from yingshe.errors import ShapeError
from yingshe.nn import functional as F
from yingshe.nn import init
from yingshe.nn.modules._common import empty_parameter, factory_dtype
from yingshe.nn.modules.container import ModuleList
from yingshe.nn.modules.dropout import Dropout
from yingshe.nn.modules.linear import Linear
from yingshe.nn.modules.module import Module
from yingshe.nn.modules.normalization import LayerNorm
from yingshe.ops.linalg import matmul
from yingshe.ops.shape import cat, reshape, squeeze, unsqueeze

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear", "TransformerEncoderLayer",
           "TransformerEncoder"]


class NonDynamicallyQuantizableLinear(Linear):
    """A ``Linear`` (PyTorch marks the attention output projection with this class)."""


def _shape(t) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _float_mask(mask, dt, name: str):
    """PyTorch's canonical mask: a bool mask becomes 0 / -inf (True: not allowed);
    a float mask is used as it is."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a tensor, got "
                        f"{type(mask).__name__}")
    if mask.dtype is _dtype.bool:
        if mask._data is None:
            raise NotImplementedError(f"a symbolic boolean {name} is not "
                                      "supported; pass a float mask")
        return _wrap(np.where(mask._data, -np.inf, 0).astype(dt.np))
    if not mask.dtype.is_floating_point:
        raise ShapeError(f"only bool and floating types of {name} are "
                         f"supported, got {mask.dtype}")
    return mask


def _pad_last(mask):
    """Append a zero (allowed) column to a float mask."""
    zeros = _wrap(np.zeros(tuple(mask.shape[:-1]) + (1,), dtype=mask.dtype.np))
    return cat([mask, zeros], -1)


class MultiheadAttention(Module):
    """Multi-head attention: softmax(Q K^T / sqrt(head_dim) + mask) V per head, then
    ``out_proj``.

    Parameters (PyTorch's names): ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E)
    when key and value have the embedding size, else ``q_proj_weight`` (E, E),
    ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim); ``bias_k``/``bias_v``
    (1, 1, E) with ``add_bias_kv``; ``out_proj`` (Linear E -> E). Projection weights
    are Xavier-uniform, biases zero, ``bias_k``/``bias_v`` Xavier-normal.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` returns
    ``(attn_output, attn_weights)``; the weights are averaged over heads (N, L, S)
    or per head (N, num_heads, L, S), and None when ``need_weights=False``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        npd = factory_dtype("MultiheadAttention", device, dtype)
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = empty_parameter((embed_dim, embed_dim), npd)
            self.k_proj_weight = empty_parameter((embed_dim, self.kdim), npd)
            self.v_proj_weight = empty_parameter((embed_dim, self.vdim), npd)
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = empty_parameter((3 * embed_dim, embed_dim), npd)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = empty_parameter((3 * embed_dim,), npd)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        dtype=_dtype.from_numpy_dtype(npd))
        if add_bias_kv:
            self.bias_k = empty_parameter((1, 1, embed_dim), npd)
            self.bias_v = empty_parameter((1, 1, embed_dim), npd)
        else:
            self.register_parameter("bias_k", None)
            self.register_parameter("bias_v", None)
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def _project(self, query, key, value):
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:   # self-attention: one matmul
                return F.linear(query, w, b).chunk(3, -1)
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        batched = query.ndim == 3
        if query.ndim not in (2, 3):
            raise ShapeError(f"query should be unbatched 2D or batched 3D "
                             f"tensor but received {query.ndim}-D query tensor")
        if query.shape[-1] != self.embed_dim:
            raise ShapeError(f"was expecting embedding dimension of "
                             f"{self.embed_dim}, but got {query.shape[-1]}")
        for name, t, want in (("key", key, self.kdim), ("value", value, self.vdim)):
            if t.ndim != query.ndim:
                raise ShapeError(f"query and {name} must have the same "
                                 f"number of dims, got {_shape(query)} and {_shape(t)}")
            if t.shape[-1] != want:
                raise ShapeError(f"expected {name} with {want} features, "
                                 f"got shape {_shape(t)}")
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use "
                               "the Transformer module method `generate_square_subsequent_mask` "
                               "to create this mask.")
        dt = query.dtype
        same = query is key and key is value
        if batched and self.batch_first:
            if same:
                query = key = value = query.transpose(0, 1)
            else:
                query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        elif not batched:
            if same:
                query = key = value = unsqueeze(query, 1)
            else:
                query, key, value = (unsqueeze(x, 1) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = unsqueeze(key_padding_mask, 0)
        L, N, E = query.shape
        S = key.shape[0]
        if key.shape[:2] != value.shape[:2]:
            raise ShapeError(f"key shape {_shape(key)} does not match "
                             f"value shape {_shape(value)}")
        Hn, hd = self.num_heads, self.head_dim
        kpm = _float_mask(key_padding_mask, dt, "key_padding_mask")
        mask = _float_mask(attn_mask, dt, "attn_mask")
        if kpm is not None and tuple(kpm.shape) != (N, S):
            raise ShapeError(f"expected key_padding_mask of shape "
                             f"({N}, {S}), got {_shape(kpm)}")
        if mask is not None:
            if mask.ndim == 2:
                if tuple(mask.shape) != (L, S):
                    raise ShapeError(f"The shape of the 2D attn_mask is {_shape(mask)}, but "
                                     f"should be ({L}, {S}).")
                mask = unsqueeze(mask, 0)
            elif mask.ndim == 3:
                if tuple(mask.shape) != (N * Hn, L, S):
                    raise ShapeError(f"The shape of the 3D attn_mask is {_shape(mask)}, but "
                                     f"should be ({N * Hn}, {L}, {S}).")
            else:
                raise ShapeError(f"attn_mask's dimension {mask.ndim} is not supported")

        q, k, v = self._project(query, key, value)
        if self.bias_k is not None:
            k = cat([k, self.bias_k.expand(1, N, E)], 0)
            v = cat([v, self.bias_v.expand(1, N, E)], 0)
            if mask is not None:
                mask = _pad_last(mask)
            if kpm is not None:
                kpm = _pad_last(kpm)
        q = reshape(q, (L, N * Hn, hd)).transpose(0, 1)
        k = reshape(k, (k.shape[0], N * Hn, hd)).transpose(0, 1)
        v = reshape(v, (v.shape[0], N * Hn, hd)).transpose(0, 1)
        if self.add_zero_attn:
            z = _wrap(np.zeros((N * Hn, 1, hd), dtype=dt.np))
            k = cat([k, z], 1)
            v = cat([v, z], 1)
            if mask is not None:
                mask = _pad_last(mask)
            if kpm is not None:
                kpm = _pad_last(kpm)
        S2 = k.shape[1]
        if kpm is not None:
            kpm = reshape(unsqueeze(unsqueeze(kpm, 1), 1).expand(N, Hn, 1, S2), (N * Hn, 1, S2))
            mask = kpm if mask is None else mask + kpm

        scores = matmul(q * math.sqrt(1.0 / hd), k.transpose(1, 2))
        if mask is not None:
            scores = scores + mask
        attn = F.softmax(scores, -1)
        if self.training and self.dropout > 0.0:
            attn = F.dropout(attn, self.dropout, True)
        out = matmul(attn, v)                                   # (N*H, L, hd)
        out = reshape(out.transpose(0, 1), (L * N, E))
        out = reshape(self.out_proj(out), (L, N, E))
        if batched and self.batch_first:
            out = out.transpose(0, 1)
        elif not batched:
            out = squeeze(out, 1)
        if not need_weights:
            return out, None
        w = reshape(attn, (N, Hn, L, S2))
        if average_attn_weights:
            w = w.mean(1)
        if not batched:
            w = squeeze(w, 0)
        return out, w


def _activation(activation):
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    return activation


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with residual connection, dropout
    and LayerNorm (post-norm by default, pre-norm with ``norm_first=True``).

    ``TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation=relu, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
    bias=True)``; ``forward(src, src_mask=None, src_key_padding_mask=None,
    is_causal=False)``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn, then ``norm``.

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``.
    ``enable_nested_tensor`` and ``mask_check`` (PyTorch fast-path switches) are
    accepted and have no effect.
    """

    def __init__(self, encoder_layer, num_layers: int, norm=None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        out = src
        for mod in self.layers:
            out = mod(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal) and mask is not None)
        if self.norm is not None:
            out = self.norm(out)
        return out
