"""Packed and padded sequences (``nn.utils.rnn``) and the recurrent layers on them,
against PyTorch from the same weights: values, lengths, permutations, h_n/c_n, and the
gradients of the inputs and of every weight (float64)."""

import numpy as np
import pytest

import yingshe as Y
from yingshe.nn.utils import rnn as R
from yingshe.testing.reference import torch as import_torch

LENGTHS = [3, 5, 1, 5, 2]          # unsorted, with a tie


def _padded(rng, T=5, B=5, F=3):
    x = rng.standard_normal((T, B, F))
    for b, n in enumerate(LENGTHS):
        x[n:, b] = 0.0
    return x


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_and_pad_round_trip_match_torch(batch_first, enforce_sorted):
    torch = import_torch()
    rng = np.random.default_rng(0)
    x = _padded(rng)
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    if enforce_sorted:
        x = x[:, np.argsort([-n for n in LENGTHS], kind="stable")]
    xin = x.transpose(1, 0, 2) if batch_first else x
    ours = R.pack_padded_sequence(Y.tensor(xin), lengths, batch_first, enforce_sorted)
    ref = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(xin), lengths, batch_first,
                                                  enforce_sorted)
    np.testing.assert_array_equal(ours.data.numpy(), ref.data.numpy())
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), ref.batch_sizes.numpy())
    for a, b in ((ours.sorted_indices, ref.sorted_indices),
                 (ours.unsorted_indices, ref.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for kw in ({}, {"total_length": 7, "padding_value": -1.0}):
        (po, lo), (pr, lr) = (R.pad_packed_sequence(ours, batch_first, **kw),
                              torch.nn.utils.rnn.pad_packed_sequence(ref, batch_first, **kw))
        np.testing.assert_array_equal(po.numpy(), pr.numpy())
        np.testing.assert_array_equal(lo.numpy(), lr.numpy())


def test_pad_sequence_pack_sequence_and_unpacking_match_torch():
    torch = import_torch()
    rng = np.random.default_rng(1)
    seqs = [rng.standard_normal((n, 2)) for n in LENGTHS]
    for kw in ({}, {"batch_first": True, "padding_value": 9.0}, {"padding_side": "left"}):
        np.testing.assert_array_equal(
            R.pad_sequence([Y.tensor(s) for s in seqs], **kw).numpy(),
            torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], **kw).numpy())
    ours = R.pack_sequence([Y.tensor(s) for s in seqs], enforce_sorted=False)
    ref = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs],
                                           enforce_sorted=False)
    np.testing.assert_array_equal(ours.data.numpy(), ref.data.numpy())
    for a, s in zip(R.unpack_sequence(ours), seqs):
        np.testing.assert_array_equal(a.numpy(), s)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        R.pack_sequence([Y.tensor(s) for s in seqs])


@pytest.mark.parametrize("kind,kw", [
    ("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("GRU", {"bidirectional": True}), ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
    ("LSTM", {"batch_first": True, "bidirectional": True}),
    ("LSTM", {"proj_size": 2, "bidirectional": True}),
])
@pytest.mark.parametrize("with_state", [False, True])
def test_recurrent_layers_on_packed_sequences_match_torch(kind, kw, with_state):
    """Each sequence stops at its own length: outputs, h_n (and c_n), and the gradients
    of the inputs, the initial states and every weight equal PyTorch's."""
    from conftest import copy_weights_to_torch
    torch = import_torch()
    rng = np.random.default_rng(2)
    x = _padded(rng)
    ym = getattr(Y.nn, kind)(3, 4, **kw).double()
    tm = getattr(torch.nn, kind)(3, 4, **kw).double()
    copy_weights_to_torch(ym, tm)
    D = 2 if kw.get("bidirectional") else 1
    shape = (kw.get("num_layers", 1) * D, 5, 4)
    h0 = rng.standard_normal(shape[:2] + (kw.get("proj_size") or 4,))
    c0 = rng.standard_normal(shape)
    results = []
    for m, layer, utils in ((Y, ym, R), (torch, tm, torch.nn.utils.rnn)):
        xt = m.tensor(x, requires_grad=True)
        states = [m.tensor(h0, requires_grad=True), m.tensor(c0, requires_grad=True)]
        packed = utils.pack_padded_sequence(xt, LENGTHS, enforce_sorted=False)
        if not with_state:
            out, final = layer(packed)
        elif kind == "LSTM":
            out, final = layer(packed, (states[0], states[1]))
        else:
            out, final = layer(packed, states[0])
        finals = list(final) if kind == "LSTM" else [final]
        padded, lengths = utils.pad_packed_sequence(out)
        w = np.linspace(-1, 1, padded.numel()).reshape(tuple(padded.shape))
        loss = (padded * m.tensor(w)).sum() + sum((f * f).sum() for f in finals)
        wrt = [xt] + (states[:len(finals)] if with_state else []) + list(layer.parameters())
        grads = m.autograd.grad(loss, wrt)
        results.append([out.data.detach().numpy(), padded.detach().numpy(),
                        lengths.numpy()] + [f.detach().numpy() for f in finals]
                       + [g.numpy() for g in grads])
    for i, (a, b) in enumerate(zip(*results)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"item {i}")
