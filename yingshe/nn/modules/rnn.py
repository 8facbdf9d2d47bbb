"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their cells ``RNNCell``,
``LSTMCell``, ``GRUCell`` (PyTorch's signatures, parameter names, layouts, gate
orders, initialisation and shapes).

Each layer and direction projects the whole input sequence with one ``linear`` and
runs the recurrence as one fused op (``yingshe.ops.rnn``), whose backward is one
fused backpropagation-through-time op: the tape holds a few nodes per layer, not a
dozen per timestep.

Example:
    >>> lstm = nn.LSTM(10, 20, num_layers=2, batch_first=True)
    >>> out, (h, c) = lstm(yingshe.randn(3, 5, 10))
    >>> out.shape, h.shape
    ((3, 5, 20), (2, 3, 20))
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from yingshe._tensor import Tensor, _wrap
from yingshe.errors import ShapeError
from yingshe.nn import functional as F
from yingshe.nn import init
from yingshe.nn.modules._common import empty_parameter, factory_dtype
from yingshe.nn.modules.module import Module
from yingshe.ops import rnn as _rnn
from yingshe.ops.shape import cat, squeeze, stack, unsqueeze

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _shape(t) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _zeros(shape, like: Tensor) -> Tensor:
    return _wrap(np.zeros(shape, dtype=like._data.dtype if like._data is not None
                          else like.dtype.np))


class RNNBase(Module):
    """The shared machinery of ``RNN``, ``LSTM`` and ``GRU`` (``mode`` is one of
    'LSTM', 'GRU', 'RNN_TANH', 'RNN_RELU')."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        npd = factory_dtype(name, device, dtype)
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          f"non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size and proj_size > 0:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size > 0 and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gates = _GATES[mode] * hidden_size
        num_directions = 2 if bidirectional else 1
        real_hidden = proj_size if proj_size > 0 else hidden_size   # the size of h_t
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                suffix = "_reverse" if direction == 1 else ""
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                shapes = [(gates, layer_input), (gates, real_hidden)]
                if bias:
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                    shapes += [(gates,), (gates,)]
                if proj_size > 0:   # h_t = W_hr (o_t * tanh(c_t)), as PyTorch
                    names.append(f"weight_hr_l{layer}{suffix}")
                    shapes.append((proj_size, hidden_size))
                for n, s in zip(names, shapes):
                    setattr(self, n, empty_parameter(s, npd))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op (PyTorch compacts cuDNN weights here)."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---- forward ----------------------------------------------------------------------
    def _name(self) -> str:
        return type(self).__name__

    def _check_input(self, input) -> bool:
        """Validate ``input``; returns whether it is batched."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self._name()}: expected a Tensor or a PackedSequence input, "
                            f"got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(f"Expected input to be 2D or 3D, got "
                             f"{input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"input.size(-1) must be equal to input_size. "
                             f"Expected {self.input_size}, got {input.shape[-1]}")
        return input.ndim == 3

    def _check_hidden(self, hx, batched: bool, expected: tuple, what: str = "hidden") -> None:
        if hx.ndim != (3 if batched else 2):
            if batched:
                raise ShapeError(f"For batched 3-D input, hx should also be "
                                 f"3-D but got {hx.ndim}-D tensor")
            raise ShapeError(f"For unbatched 2-D input, hx should also be 2-D "
                             f"but got {hx.ndim}-D tensor")
        if tuple(hx.shape) != tuple(expected):
            raise ShapeError(f"Expected {what} size "
                             f"({', '.join(map(str, expected))}), got {_shape(hx)}")

    def _prepare(self, input, states):
        """Batch ``input`` and the given states; returns (x, states, batched, B, T)."""
        batched = self._check_input(input)
        bf = self.batch_first
        if not batched:
            input = unsqueeze(input, 0 if bf else 1)
        B = input.shape[0 if bf else 1]
        T = input.shape[1 if bf else 0]
        if T == 0:
            raise ShapeError(f"Expected sequence length to be larger than 0 "
                             f"in RNN, got input of shape {_shape(input)}")
        out = []
        for state, what in states:
            if state is None:
                out.append(None)
                continue
            expected = self._state_shape(what, B)
            self._check_hidden(state, batched, expected if batched else
                               (expected[0], expected[2]), what)
            out.append(state if batched else unsqueeze(state, 1))
        return input, out, batched, B, T

    def _state_shape(self, what: str, B: int) -> tuple:
        """(layers * directions, B, size) of h_0/h_n ("hidden", proj_size with
        projections) or c_0/c_n ("cell")."""
        D = 2 if self.bidirectional else 1
        size = self.proj_size if what == "hidden" and self.proj_size else self.hidden_size
        return (self.num_layers * D, B, size)

    def _run(self, x, h0s, c0s, B):
        """All layers and directions; returns (output, [h_n per layer/dir], [c_n ...])."""
        D = 2 if self.bidirectional else 1
        bf = self.batch_first
        H = self.hidden_size
        hs, cs = [], []
        layer_input = x
        p = self._parameters
        zero = None
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                names = self._all_weights[k]
                w_ih, w_hh = p[names[0]], p[names[1]]
                b_ih, b_hh = (p[names[2]], p[names[3]]) if self.bias else (None, None)
                if h0s is None:
                    if zero is None:
                        zero = _zeros((B, H), x)
                    h0 = zero[:, :self.proj_size] if self.proj_size else zero
                else:
                    h0 = h0s[k]
                rev = d == 1
                if self.mode == "GRU":
                    xg = F.linear(layer_input, w_ih, b_ih)
                    out, hn = _rnn.gru_layer(xg, h0, w_hh, b_hh, rev, bf)
                else:
                    xg = F.linear(layer_input, w_ih, None if b_ih is None else b_ih + b_hh)
                    if self.mode == "LSTM":
                        if c0s is None:
                            if zero is None:
                                zero = _zeros((B, H), x)
                            c0 = zero
                        else:
                            c0 = c0s[k]
                        out, hn, cn = _rnn.lstm_layer(
                            xg, h0, c0, w_hh, rev, bf,
                            w_hr=p[names[-1]] if self.proj_size else None)
                        cs.append(cn)
                    else:
                        nl = "tanh" if self.mode == "RNN_TANH" else "relu"
                        out, hn = _rnn.rnn_layer(xg, h0, w_hh, nl, rev, bf)
                hs.append(hn)
                outs.append(out)
            layer_input = outs[0] if D == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, hs, cs

    @staticmethod
    def _stack(states, batched: bool):
        s = unsqueeze(states[0], 0) if len(states) == 1 else stack(states, 0)
        return s if batched else squeeze(s, 1)

    def _finish(self, out, batched: bool):
        return out if batched else squeeze(out, 0 if self.batch_first else 1)

    def _forward_packed(self, packed, states):
        """A ``PackedSequence`` input: each group of equally long sequences runs through
        all layers on its own steps only, so every sequence stops at its own length (for
        the output, h_n and c_n; the reverse direction starts at each one's last step).
        Returns (PackedSequence output, [h_n] or [h_n, c_n]), batch in the caller's order."""
        from yingshe.ops.indexing import index_put
        from yingshe._creation import zeros
        from yingshe.nn.utils.rnn import _pack_sorted, pad_packed_sequence
        self._check_input(packed.data)                       # feature size
        padded, lengths = pad_packed_sequence(packed)         # (T, B, I)
        lens = lengths.numpy()
        T, B = padded.shape[0], padded.shape[1]
        D = 2 if self.bidirectional else 1
        shapes = [self._state_shape(what, B) for _, what in states]
        for (state, what), shape in zip(states, shapes):
            if state is not None:
                self._check_hidden(state, True, shape, what)
        out = zeros((T, B, D * shapes[0][2]), dtype=padded.dtype)
        finals = [zeros(shape, dtype=padded.dtype) for shape in shapes]
        for n in sorted(set(lens.tolist()), reverse=True):
            idx = _wrap(np.flatnonzero(lens == n).astype(np.int64))
            x = padded[:n].index_select(1, idx)
            if self.batch_first:
                x = x.transpose(0, 1)
            given = [None if s is None else s.index_select(1, idx).unbind(0)
                     for s, _ in states]
            o, hs, cs = self._run(x, given[0], given[1] if len(given) > 1 else None,
                                  len(idx))
            if self.batch_first:
                o = o.transpose(0, 1)
            steps = _wrap(np.arange(n, dtype=np.int64).reshape(n, 1))
            out = index_put(out, (steps, idx.reshape(1, -1)), o)
            for k, got in enumerate((hs, cs)[:len(states)]):
                finals[k] = index_put(finals[k], (None, idx), stack(got, 0))
        batch_sizes = packed.batch_sizes.numpy().astype(np.int64)
        return (_pack_sorted(out, batch_sizes, packed.sorted_indices, packed.unsorted_indices),
                finals)

    def forward(self, input, hx=None):
        from yingshe.nn.utils.rnn import PackedSequence
        if isinstance(input, PackedSequence):
            out, (hn,) = self._forward_packed(input, [(hx, "hidden")])
            return out, hn
        x, (h0,), batched, B, T = self._prepare(input, [(hx, "hidden")])
        h0s = None if h0 is None else h0.unbind(0)
        out, hs, _ = self._run(x, h0s, None, B)
        return self._finish(out, batched), self._stack(hs, batched)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``; forward(input, hx=None)
    returns (output, h_n).
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self_nl = args[3]
            args = args[:3] + args[4:]
        else:
            self_nl = kwargs.pop("nonlinearity", "tanh")
        if self_nl == "tanh":
            mode = "RNN_TANH"
        elif self_nl == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self_nl}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = self_nl

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTM(RNNBase):
    """Long short-term memory; gates i, f, g, o stacked in ``weight_ih_l{k}`` (4H, I).

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, proj_size=0)`` (with ``proj_size > 0``,
    h_t = W_hr (o_t * tanh(c_t)) of size proj_size, in the same fused layer);
    forward(input, (h_0, c_0)=None) returns (output, (h_n, c_n)).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None):
        if hx is None:
            h0 = c0 = None
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ShapeError("hx must be a tuple (h_0, c_0) of two tensors")
            h0, c0 = hx
        if (h0 is None) != (c0 is None):
            raise ShapeError("give both h_0 and c_0 or neither")
        from yingshe.nn.utils.rnn import PackedSequence
        if isinstance(input, PackedSequence):
            out, (hn, cn) = self._forward_packed(input, [(h0, "hidden"), (c0, "cell")])
            return out, (hn, cn)
        x, (h0, c0), batched, B, T = self._prepare(input, [(h0, "hidden"), (c0, "cell")])
        out, hs, cs = self._run(x, None if h0 is None else h0.unbind(0),
                                None if c0 is None else c0.unbind(0), B)
        return self._finish(out, batched), (self._stack(hs, batched), self._stack(cs, batched))


class GRU(RNNBase):
    """Gated recurrent unit; gates r, z, n stacked in ``weight_ih_l{k}`` (3H, I), with
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) and h' = (1 - z) * n + z * h.

    ``GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False)``; forward(input, hx=None) returns (output, h_n).
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ---- cells --------------------------------------------------------------------------------

class RNNCellBase(Module):
    """Parameters ``weight_ih`` (chunks*H, I), ``weight_hh`` (chunks*H, H), ``bias_ih``,
    ``bias_hh`` (chunks*H,), initialised U(-1/sqrt(H), 1/sqrt(H))."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        npd = factory_dtype(type(self).__name__, device, dtype)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = empty_parameter((num_chunks * hidden_size, input_size), npd)
        self.weight_hh = empty_parameter((num_chunks * hidden_size, hidden_size), npd)
        if bias:
            self.bias_ih = empty_parameter((num_chunks * hidden_size,), npd)
            self.bias_hh = empty_parameter((num_chunks * hidden_size,), npd)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input, states):
        if not isinstance(input, Tensor):
            raise TypeError(f"expected a tensor input, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"input has inconsistent input_size: got "
                             f"{input.shape[-1]} expected {self.input_size}")
        batched = input.ndim == 2
        x = input if batched else unsqueeze(input, 0)
        B = x.shape[0]
        out = []
        for s in states:
            if s is None:
                out.append(_zeros((B, self.hidden_size), x))
                continue
            if s.ndim != input.ndim:
                raise ShapeError(f"expected hidden state of {input.ndim}-D like the "
                                 f"input, got shape {_shape(s)}")
            s = s if batched else unsqueeze(s, 0)
            if s.shape[0] != B:
                raise ShapeError(f"Input batch size {B} doesn't match hidden0 batch "
                                 f"size {s.shape[0]}")
            if s.shape[1] != self.hidden_size:
                raise ShapeError(f"hidden0 has inconsistent hidden_size: got "
                                 f"{s.shape[1]}, expected {self.hidden_size}")
            out.append(s)
        return unsqueeze(x, 0), out, batched

    @staticmethod
    def _finish(h, batched: bool):
        return h if batched else squeeze(h, 0)


class RNNCell(RNNCellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh) for one step (act tanh or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h0,), batched = self._prepare(input, [hx])
        b = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        xg = F.linear(x, self.weight_ih, b)
        _, h = _rnn.rnn_layer(xg, h0, self.weight_hh, self.nonlinearity)
        return self._finish(h, batched)


class LSTMCell(RNNCellBase):
    """One LSTM step: forward(input, (h, c)=None) returns (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        h0, c0 = (None, None) if hx is None else hx
        x, (h0, c0), batched = self._prepare(input, [h0, c0])
        b = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        xg = F.linear(x, self.weight_ih, b)
        _, h, c = _rnn.lstm_layer(xg, h0, c0, self.weight_hh)
        return self._finish(h, batched), self._finish(c, batched)


class GRUCell(RNNCellBase):
    """One GRU step: forward(input, hx=None) returns h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h0,), batched = self._prepare(input, [hx])
        xg = F.linear(x, self.weight_ih, self.bias_ih)
        _, h = _rnn.gru_layer(xg, h0, self.weight_hh, self.bias_hh)
        return self._finish(h, batched)
