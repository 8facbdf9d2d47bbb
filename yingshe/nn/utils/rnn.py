"""Variable-length sequences, as ``torch.nn.utils.rnn``: ``PackedSequence``,
``pack_padded_sequence``, ``pad_packed_sequence``, ``pad_sequence``, ``pack_sequence``,
``unpad_sequence``, ``unpack_sequence``.

A packed sequence stores the steps time-major, longest sequence first: step t holds the
``batch_sizes[t]`` sequences still running. ``sorted_indices`` maps that order to the
caller's batch order (``unsorted_indices`` back). Packing and padding are index ops
(``index``/``index_put``), so gradients flow through them. The recurrent layers
(``nn.RNN``/``LSTM``/``GRU``) accept a ``PackedSequence``: each sequence stops at its own
length, for the output and for ``h_n``/``c_n``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from yingshe._tensor import Tensor, _wrap

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence"]


class PackedSequence(NamedTuple):
    """``data`` (sum of lengths, *), ``batch_sizes`` (int64, per step), and the
    permutation between the length-sorted order and the caller's
    (``sorted_indices``/``unsorted_indices``, None when the input was sorted)."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False

    def to(self, *args, **kwargs) -> "PackedSequence":
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._replace(data=data)

    def cpu(self) -> "PackedSequence":
        return self

    def double(self) -> "PackedSequence":
        return self._replace(data=self.data.double())

    def float(self) -> "PackedSequence":
        return self._replace(data=self.data.float())


def _lengths(lengths) -> np.ndarray:
    if isinstance(lengths, Tensor):
        lengths = lengths.detach().numpy()
    arr = np.asarray(lengths)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"lengths must be a 1-D sequence of integers, got {arr!r}")
    return arr.astype(np.int64)


def _positions(batch_sizes: np.ndarray):
    """(t, b) of every packed row, in packing order (time-major, longest first)."""
    t = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    b = np.concatenate([np.arange(n) for n in batch_sizes]) if len(batch_sizes) else \
        np.zeros(0, np.int64)
    return t.astype(np.int64), b.astype(np.int64)


def _pack_sorted(padded, batch_sizes: np.ndarray, sorted_indices, unsorted_indices):
    """Pack a time-major ``padded`` (T, B, *) whose batch is in the caller's order."""
    x = padded if sorted_indices is None else padded.index_select(1, sorted_indices)
    t, b = _positions(batch_sizes)
    data = x[_wrap(t), _wrap(b)]
    return PackedSequence(data, _wrap(batch_sizes), sorted_indices, unsorted_indices)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) of sequences of the
    given ``lengths``; with ``enforce_sorted=False`` the lengths may come in any order."""
    lens = _lengths(lengths)
    x = input.transpose(0, 1) if batch_first else input
    B = x.shape[1]
    if lens.shape[0] != B:
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                         f"{lens.shape[0]} (batch_size={B})")
    if lens.size and lens.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    if lens.size and lens.max() > x.shape[0]:
        raise RuntimeError(f"lengths must not exceed the sequence length {x.shape[0]}, "
                           f"got {int(lens.max())}")
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                               "to pack_padded_sequence and/or pack_sequence to sidestep "
                               "this requirement if you do not need ONNX exportability.")
        sorted_idx = unsorted_idx = None
        sorted_lens = lens
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_idx, unsorted_idx = _wrap(order.astype(np.int64)), _wrap(
            np.argsort(order, kind="stable").astype(np.int64))
        sorted_lens = lens[order]
    T = int(sorted_lens[0]) if sorted_lens.size else 0
    batch_sizes = (sorted_lens[None, :] > np.arange(T)[:, None]).sum(1).astype(np.int64)
    return _pack_sorted(x, batch_sizes, sorted_idx, unsorted_idx)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The padded batch of a ``PackedSequence`` and the lengths (int64), in the
    caller's batch order; ``total_length`` pads the time dim further."""
    from yingshe.ops.indexing import index_put
    from yingshe._creation import full
    data, batch_sizes = sequence.data, sequence.batch_sizes.detach().numpy().astype(np.int64)
    T = len(batch_sizes)
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {T}")
        T = int(total_length)
    B = int(batch_sizes[0]) if len(batch_sizes) else 0
    t, b = _positions(batch_sizes)
    out = full((T, B) + tuple(data.shape[1:]), padding_value, dtype=data.dtype)
    out = index_put(out, (_wrap(t), _wrap(b)), data)
    lengths = np.bincount(b, minlength=B).astype(np.int64)
    if sequence.unsorted_indices is not None:
        out = out.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.numpy()]
    return (out.transpose(0, 1) if batch_first else out), _wrap(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shape (L_i, *) into (max L, B, *) (``batch_first``: (B, max L,
    *)), filling with ``padding_value`` on the ``padding_side``."""
    from yingshe.ops.shape import stack
    from yingshe.ops.indexing import pad
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    seqs = list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    T = max(s.shape[0] for s in seqs)
    rows = []
    for s in seqs:
        extra = T - s.shape[0]
        widths = [0, 0] * (s.ndim - 1) + ([0, extra] if padding_side == "right" else [extra, 0])
        rows.append(pad(s, tuple(widths), value=padding_value) if extra else s)
    return stack(rows, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences (L_i, *) (``pack_padded_sequence`` of ``pad_sequence``)."""
    seqs = list(sequences)
    return pack_padded_sequence(pad_sequence(seqs), [s.shape[0] for s in seqs],
                                enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) of a padded batch (the inverse of ``pad_sequence``)."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :int(n)] for i, n in enumerate(_lengths(lengths))]


def unpack_sequence(packed_sequences):
    """The list of sequences of a ``PackedSequence`` (the inverse of ``pack_sequence``)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
