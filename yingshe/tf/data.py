"""``tf.data``: input pipelines (``Dataset``) over yingshe tensors.

A ``Dataset`` is a recipe: iterating it (``for x in ds``, ``iter(ds)``,
``as_numpy_iterator()``) starts a fresh pass over its source, and each transformation
(``map``, ``shuffle``, ``batch``...) returns a new ``Dataset``. Elements are tensors, or
tuples and dicts of them, as in TensorFlow; they are yielded as eager tensors.

TensorFlow's semantics, and where yingshe differs:

- ``shuffle(buffer_size, seed=None, reshuffle_each_iteration=True)`` keeps TensorFlow's
  buffer: the first ``buffer_size`` elements fill it, each output is a uniformly chosen
  element of the buffer, whose place the next input element takes. So every pass is a
  permutation of the input, and element ``i`` cannot come out before position
  ``i - buffer_size + 1``. Each pass reshuffles (unless ``reshuffle_each_iteration=False``);
  with a ``seed`` (or ``tf.random.set_seed``) the sequence of passes is the same in every
  run. The random numbers are yingshe's (NumPy's PCG64), not TensorFlow's: the same
  semantics, not the same orders.
- ``map`` and ``filter`` call the function through ``tf.function`` (traced once per
  element signature, as TensorFlow traces it; one that cannot be traced runs eagerly with
  a warning). Python side effects of the function therefore happen when it is traced.
- ``prefetch`` changes nothing observable (no background thread here); ``cache()`` keeps
  the elements of a complete pass in memory (a ``filename`` is not supported).
- Iterating a dataset inside a ``tf.function`` makes that function run eagerly (with
  ``tf.function``'s one warning): TensorFlow turns such a loop into a graph loop; yingshe
  would otherwise unroll it at trace time and replay it.
- ``element_spec`` gives ``TensorSpec``s with TensorFlow's static shapes (the batch
  dimension is ``None`` unless ``drop_remainder=True``).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from yingshe._tensor import MODE, Tensor
from yingshe.tf import _core, errors
from yingshe.tf._core import TensorShape, as_dtype
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["Dataset", "TensorSpec", "AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY",
           "experimental", "Options"]

AUTOTUNE = -1
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2


class TensorSpec:
    """``tf.TensorSpec(shape, dtype=tf.float32, name=None)``: what a tensor will be."""

    def __init__(self, shape, dtype=_core.float32, name=None):
        # None: unknown rank (TensorFlow's TensorShape(None)); else dims, None if unknown
        self.shape = None if shape is None else TensorShape(shape)
        self.dtype = as_dtype(dtype)
        self.name = name

    def __eq__(self, other) -> bool:
        return isinstance(other, TensorSpec) and _spec_key(self) == _spec_key(other)

    def __hash__(self) -> int:
        return hash(tuple(_spec_key(self)))

    def is_compatible_with(self, value) -> bool:
        spec = value if isinstance(value, TensorSpec) else _spec_of(_to_array(value))
        if spec.dtype.name != self.dtype.name:
            return False
        if self.shape is None or spec.shape is None:
            return True
        if len(spec.shape) != len(self.shape):
            return False
        return all(a is None or b is None or a == b for a, b in zip(self.shape, spec.shape))

    def __repr__(self) -> str:
        shape = "<unknown>" if self.shape is None else str(self.shape)
        return f"TensorSpec(shape={shape}, dtype={self.dtype!r}, name={self.name!r})"


# ---- nested structures (tuples, lists as tuples, dicts, named tuples) ------------------------

def _flatten(x) -> list:
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _flatten(x[k])]
    if isinstance(x, (tuple, list)):
        return [v for item in x for v in _flatten(item)]
    return [x]


def _pack(structure, flat: list, start: int = 0):
    """``flat`` values back into ``structure``'s shape; returns (packed, next index)."""
    if isinstance(structure, dict):
        out = {}
        for k in sorted(structure):
            out[k], start = _pack(structure[k], flat, start)
        return type(structure)(out) if type(structure) is not dict else out, start
    if isinstance(structure, (tuple, list)):
        items = []
        for item in structure:
            v, start = _pack(item, flat, start)
            items.append(v)
        if hasattr(structure, "_fields"):
            return type(structure)(*items), start
        return tuple(items), start
    return flat[start], start + 1


def _map_structure(fn, x):
    return _pack(x, [fn(v) for v in _flatten(x)])[0]


def _to_array(value) -> np.ndarray:
    """A component as a NumPy array, with TensorFlow's conversion of Python values
    (floats -> float32, ints -> int32)."""
    if isinstance(value, Tensor):
        if value._data is None:
            raise TypeError("tf.data: a graph tensor cannot be a dataset element")
        return np.asarray(value._data)
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if isinstance(value, (str, bytes)) or (isinstance(value, (list, tuple)) and value and
                                           isinstance(_flatten(value)[0], (str, bytes))):
        raise NotImplementedError("tf.data: string elements are not supported by yingshe.tf "
                                  "(yingshe has no string tensors)")
    return _core._infer_array(value)


def _spec_of(arr: np.ndarray, batch_dim=False) -> TensorSpec:
    return TensorSpec(arr.shape, as_dtype(arr.dtype))


def _to_tensor(arr: np.ndarray):
    return _core.constant_from_array(arr)


def _element_out(element):
    """An internal element (NumPy arrays) as TensorFlow yields it (eager tensors)."""
    return _map_structure(_to_tensor, element)


def _element_in(value):
    """A value (from a user's function or generator) as an internal element."""
    if isinstance(value, list):
        value = tuple(value)
    return _map_structure(_to_array, value)


def _seeds(seed):
    """(global seed, op seed) of a shuffle, as TensorFlow derives them: an op without its
    own seed under a global seed takes the next number of a counter that
    ``tf.random.set_seed`` resets; with neither, the shuffle is not reproducible."""
    from yingshe.tf import random as _random
    global_seed = _random._GLOBAL_SEED[0]
    if seed is None and global_seed is not None:
        seed = _random._OP_COUNTER[0]
        _random._OP_COUNTER[0] += 1
    return global_seed, seed


def _in_trace() -> None:
    if MODE.tracer is not None:
        from yingshe.graph.trace import TraceError
        raise TraceError("a tf.data.Dataset is iterated inside tf.function (TensorFlow "
                         "turns that loop into a graph loop; yingshe runs the function "
                         "eagerly)")


class Dataset:
    """``tf.data.Dataset``: build one with ``from_tensor_slices``, ``from_tensors``,
    ``range``, ``zip`` or ``from_generator``, then transform it."""

    def __init__(self, make_iter, spec, cardinality: int):
        self._make_iter = make_iter          # () -> iterator of internal elements
        self._spec = spec
        self._cardinality = cardinality

    # ---- sources ---------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors, name=None) -> "Dataset":
        """One element per index of the leading dimension of every component."""
        if isinstance(tensors, list):
            tensors = _to_array(tensors)
        arrays = _map_structure(_to_array, tensors)
        flat = _flatten(arrays)
        for a in flat:
            if a.ndim == 0:
                raise ValueError("Unbatching a tensor is only supported for rank >= 1 "
                                 f"(got a scalar of shape {a.shape})")
        n = flat[0].shape[0]
        for a in flat[1:]:
            if a.shape[0] != n:
                raise ValueError(f"Dimensions {n} and {a.shape[0]} are not compatible "
                                 "(tf.data.Dataset.from_tensor_slices: every component "
                                 "needs the same leading dimension)")
        spec = _map_structure(lambda a: TensorSpec(a.shape[1:], as_dtype(a.dtype)), arrays)

        def it():
            for i in range(n):
                yield _pack(arrays, [a[i] for a in flat])[0]
        return Dataset(it, spec, n)

    @staticmethod
    def from_tensors(tensors, name=None) -> "Dataset":
        """A dataset of one element: ``tensors`` itself."""
        if isinstance(tensors, list):
            tensors = _to_array(tensors)
        element = _map_structure(_to_array, tensors)
        spec = _map_structure(lambda a: TensorSpec(a.shape, as_dtype(a.dtype)), element)
        return Dataset(lambda: iter([element]), spec, 1)

    @staticmethod
    def range(*args, output_type=_core.int64, name=None) -> "Dataset":
        """``range(stop)``, ``range(start, stop[, step])`` as scalars of ``output_type``."""
        if not 1 <= len(args) <= 3:
            raise ValueError(f"Invalid arguments to range: {args}")
        r = range(*(int(a) for a in args))
        dt = as_dtype(output_type).np
        return Dataset(lambda: (np.asarray(v, dtype=dt) for v in r),
                       TensorSpec((), as_dtype(output_type)), len(r))

    @staticmethod
    def zip(*datasets, name=None) -> "Dataset":
        """Elements of several datasets side by side (as a tuple, or the structure given);
        ends with the shortest."""
        structure = datasets[0] if len(datasets) == 1 else tuple(datasets)
        if isinstance(structure, Dataset):
            raise TypeError("Dataset.zip: expected several datasets or a (nested) structure "
                            "of datasets, got a single Dataset")
        parts = _flatten(structure)
        for d in parts:
            if not isinstance(d, Dataset):
                raise TypeError(f"Dataset.zip: the arguments must be datasets, got "
                                f"{type(d).__name__}")
        spec = _pack(structure, [d.element_spec for d in parts])[0]
        cards = [d._cardinality for d in parts]
        known = [c for c in cards if c >= 0]
        card = min(known) if known else (UNKNOWN_CARDINALITY if UNKNOWN_CARDINALITY in cards
                                          else INFINITE_CARDINALITY)

        def it():
            for items in zip(*(iter_elements(d) for d in parts)):
                yield _pack(structure, list(items))[0]
        return Dataset(it, spec, card)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None,
                       output_signature=None, name=None) -> "Dataset":
        """Elements from calling ``generator(*args)`` at each pass; converted to the
        declared dtypes (``output_signature`` or ``output_types``), shapes checked."""
        if output_signature is None and output_types is None:
            raise TypeError("The `output_signature` argument must be set.")
        if output_signature is not None:
            spec = output_signature
        else:
            shapes = output_shapes
            if shapes is None:
                shapes = _map_structure(lambda _: None, output_types)
            spec = _pack(output_types, [TensorSpec(s, t)
                                        for t, s in zip(_flatten(output_types),
                                                        _flatten_shapes(shapes,
                                                                        output_types))])[0]
        flat_spec = _flatten(spec)

        def it():
            for value in generator(*(args or ())):
                if isinstance(value, list):
                    value = tuple(value)
                flat = _flatten(value)
                if len(flat) != len(flat_spec):
                    raise TypeError(f"`generator` yielded an element of {len(flat)} "
                                    f"components, the signature declares {len(flat_spec)}")
                out = []
                for v, s in zip(flat, flat_spec):
                    arr = np.asarray(v.numpy() if isinstance(v, Tensor) else v)
                    arr = arr.astype(s.dtype.np)
                    if s.shape is not None and not s.is_compatible_with(arr):
                        raise errors.InvalidArgumentError(
                            None, None, f"`generator` yielded an element of shape "
                            f"{arr.shape} where an element of shape {s.shape} was expected.")
                    out.append(arr)
                yield _pack(spec, out)[0]
        return Dataset(it, spec, UNKNOWN_CARDINALITY)

    # ---- iteration -------------------------------------------------------------------------
    def __iter__(self):
        _in_trace()
        return (_element_out(e) for e in self._make_iter())

    def as_numpy_iterator(self):
        """The elements as NumPy values (0-d components as NumPy scalars)."""
        _in_trace()

        def numpy(a):
            return a[()] if a.ndim == 0 else a.copy()
        return (_map_structure(numpy, e) for e in self._make_iter())

    def __len__(self) -> int:
        if self._cardinality == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if self._cardinality == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return self._cardinality

    def __bool__(self) -> bool:
        return True

    def cardinality(self):
        """The number of elements (``INFINITE_CARDINALITY`` or ``UNKNOWN_CARDINALITY`` when
        not known), as an int64 tensor."""
        return _core.constant_from_array(np.asarray(self._cardinality, np.int64))

    @property
    def element_spec(self):
        return _resolve_spec(self._spec)

    def _derive(self, fn):
        """The spec ``fn(element_spec)``, computed when asked if this one is."""
        if isinstance(self._spec, _LazySpec):
            return _LazySpec(lambda: fn(self.element_spec))
        return fn(self._spec)

    def __repr__(self) -> str:
        return f"<_Dataset element_spec={self._spec!r}>"

    # ---- transformations -------------------------------------------------------------------
    def repeat(self, count=None, name=None) -> "Dataset":
        """The dataset ``count`` times (forever for ``None`` or -1); each repetition is a
        new pass (a shuffle before it reshuffles)."""
        count = -1 if count is None else int(count)

        def it():
            n = 0
            while count < 0 or n < count:
                n += 1
                empty = True
                for e in self._make_iter():
                    empty = False
                    yield e
                if empty:
                    return
        c = self._cardinality
        card = (INFINITE_CARDINALITY if count < 0 and c != 0 else
                c * count if c >= 0 and count >= 0 else c if count < 0 else c)
        return Dataset(it, self._spec, card)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=None,
                name=None) -> "Dataset":
        """TensorFlow's buffer shuffle (see the module docstring)."""
        buffer_size = int(_plain(buffer_size))
        if buffer_size == 0 or buffer_size < -1:
            raise errors.InvalidArgumentError(
                None, None, f"buffer_size must be greater than zero or -1 (AUTOTUNE); got "
                f"{buffer_size}")
        if buffer_size == -1:
            if self._cardinality < 0:
                raise errors.InvalidArgumentError(
                    None, None, "shuffle: buffer_size=AUTOTUNE needs a finite dataset")
            buffer_size = max(self._cardinality, 1)
        reshuffle = True if reshuffle_each_iteration is None else bool(reshuffle_each_iteration)
        global_seed, op_seed = _seeds(None if seed is None else int(_plain(seed)))
        base = None if op_seed is None and global_seed is None else \
            [0 if global_seed is None else int(global_seed), op_seed]
        entropy = np.random.SeedSequence().entropy if base is None else None
        passes = itertools.count()

        def it():
            epoch = next(passes) if reshuffle else 0
            key = base if base is not None else [int(entropy % (1 << 63))]
            rng = np.random.default_rng(list(key) + [epoch])
            buf = []
            source = self._make_iter()
            for e in source:
                buf.append(e)
                if len(buf) == buffer_size:
                    break
            for e in source:
                j = int(rng.integers(len(buf)))
                yield buf[j]
                buf[j] = e
            while buf:
                j = int(rng.integers(len(buf)))
                yield buf[j]
                buf[j] = buf[-1]
                buf.pop()
        return Dataset(it, self._spec, self._cardinality)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None,
              deterministic=None, name=None) -> "Dataset":
        """Consecutive elements stacked into batches of ``batch_size`` (the last one
        smaller unless ``drop_remainder``)."""
        batch_size = int(_plain(batch_size))
        if batch_size <= 0:
            raise errors.InvalidArgumentError(None, None, "Batch size must be greater than "
                                              f"zero, got {batch_size}")
        drop = bool(drop_remainder)
        spec = self._derive(lambda sp: _map_structure(
            lambda s: TensorSpec(None if s.shape is None else
                                 (batch_size if drop else None,) + tuple(s.shape), s.dtype),
            sp))

        def stack(items):
            flats = [_flatten(e) for e in items]
            out = []
            for k in range(len(flats[0])):
                parts = [f[k] for f in flats]
                for i, p in enumerate(parts[1:], 1):
                    if p.shape != parts[0].shape:
                        raise errors.InvalidArgumentError(
                            None, None, f"Cannot batch tensors with different shapes in "
                            f"component {k}. First element had shape {list(parts[0].shape)} "
                            f"and element {i} had shape {list(p.shape)}.")
                out.append(np.stack(parts))
            return _pack(items[0], out)[0]

        def it():
            items = []
            for e in self._make_iter():
                items.append(e)
                if len(items) == batch_size:
                    yield stack(items)
                    items = []
            if items and not drop:
                yield stack(items)
        c = self._cardinality
        card = c if c < 0 else (c // batch_size if drop else -(-c // batch_size))
        return Dataset(it, spec, card)

    def unbatch(self, name=None) -> "Dataset":
        """Each element split along its leading dimension."""
        spec = self._derive(lambda sp: _map_structure(
            lambda s: TensorSpec(None if s.shape is None else tuple(s.shape)[1:], s.dtype),
            sp))

        def it():
            for e in self._make_iter():
                flat = _flatten(e)
                for i in range(flat[0].shape[0]):
                    yield _pack(e, [a[i] for a in flat])[0]
        return Dataset(it, spec, UNKNOWN_CARDINALITY)

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """``map_func`` applied to each element (a tuple element is passed as positional
        arguments), through ``tf.function``."""
        fn = _traced(map_func)

        def call(e):
            args = _element_out(e)
            out = fn(*args) if isinstance(args, tuple) and not hasattr(args, "_fields") \
                else fn(args)
            return _element_in(out)

        def it():
            for e in self._make_iter():
                yield call(e)
        return Dataset(it, _LazySpec(lambda: _map_spec(map_func, self._spec, self)),
                       self._cardinality)

    def filter(self, predicate, name=None) -> "Dataset":
        """The elements for which ``predicate`` returns a true ``tf.bool`` scalar."""
        fn = _traced(predicate)

        def it():
            for e in self._make_iter():
                args = _element_out(e)
                keep = fn(*args) if isinstance(args, tuple) and not hasattr(args, "_fields") \
                    else fn(args)
                arr = np.asarray(keep.numpy() if isinstance(keep, Tensor) else keep)
                if arr.dtype != np.bool_ or arr.ndim != 0:
                    raise ValueError("Invalid `predicate`. `predicate` must return a "
                                     "`tf.bool` scalar tensor, but its return type is "
                                     f"{as_dtype(arr.dtype)!r} of shape {arr.shape}.")
                if bool(arr):
                    yield e
        return Dataset(it, self._spec, UNKNOWN_CARDINALITY)

    def take(self, count, name=None) -> "Dataset":
        """The first ``count`` elements (all of them for -1)."""
        count = int(_plain(count))

        def it():
            return self._make_iter() if count < 0 else itertools.islice(self._make_iter(),
                                                                        count)
        c = self._cardinality
        card = c if count < 0 else (min(c, count) if c >= 0 else
                                    count if c == INFINITE_CARDINALITY else c)
        return Dataset(it, self._spec, card)

    def skip(self, count, name=None) -> "Dataset":
        """All but the first ``count`` elements (none for -1)."""
        count = int(_plain(count))

        def it():
            return iter(()) if count < 0 else itertools.islice(self._make_iter(), count, None)
        c = self._cardinality
        card = 0 if count < 0 else (max(c - count, 0) if c >= 0 else c)
        return Dataset(it, self._spec, card)

    def enumerate(self, start=0, name=None) -> "Dataset":
        """``(index, element)`` pairs, the index an int64 scalar."""
        spec = self._derive(lambda sp: (TensorSpec((), _core.int64), sp))

        def it():
            for i, e in enumerate(self._make_iter(), int(start)):
                yield (np.asarray(i, np.int64), e)
        return Dataset(it, spec, self._cardinality)

    def concatenate(self, dataset, name=None) -> "Dataset":
        """This dataset's elements, then ``dataset``'s."""
        if _spec_key(self.element_spec) != _spec_key(dataset.element_spec):
            raise TypeError(f"Incompatible dataset elements: {self.element_spec} vs. "
                            f"{dataset.element_spec}")
        a, b = self._cardinality, dataset._cardinality
        card = a + b if a >= 0 and b >= 0 else (INFINITE_CARDINALITY
                                                if INFINITE_CARDINALITY in (a, b)
                                                else UNKNOWN_CARDINALITY)
        return Dataset(lambda: itertools.chain(self._make_iter(), dataset._make_iter()),
                       self._spec, card)

    def cache(self, filename="", name=None) -> "Dataset":
        """The elements of the first complete pass, kept in memory and replayed."""
        if filename:
            raise NotImplementedError("tf.data.Dataset.cache(filename=...) (a cache file) is "
                                      "not supported by yingshe.tf; cache() keeps the "
                                      "elements in memory")
        store: list = []
        done = [False]

        def it():
            if done[0]:
                yield from store
                return
            seen = []
            for e in self._make_iter():
                seen.append(e)
                yield e
            store[:] = seen
            done[0] = True
        return Dataset(it, self._spec, self._cardinality)

    def prefetch(self, buffer_size, name=None) -> "Dataset":
        """The same elements (yingshe prepares them when asked: nothing to overlap)."""
        return Dataset(self._make_iter, self._spec, self._cardinality)

    def with_options(self, options, name=None) -> "Dataset":
        return Dataset(self._make_iter, self._spec, self._cardinality)

    def options(self):
        return Options()

    def apply(self, transformation_func) -> "Dataset":
        return transformation_func(self)


def iter_elements(ds: Dataset):
    """The internal elements (NumPy arrays) of a pass over ``ds``."""
    return ds._make_iter()


def _plain(v):
    if isinstance(v, Tensor):
        return v.numpy()
    return v


def _flatten_shapes(shapes, types):
    """Per component of ``types``, its shape from ``shapes`` (None: unknown)."""
    if isinstance(types, dict):
        return [s for k in sorted(types) for s in _flatten_shapes(shapes[k], types[k])]
    if isinstance(types, (tuple, list)):
        return [s for t, sh in zip(types, shapes) for s in _flatten_shapes(sh, t)]
    return [shapes]


def _spec_key(spec):
    return [(None if s.shape is None else tuple(s.shape), s.dtype.name)
            for s in _flatten(spec)]


def _traced(func):
    from yingshe.tf._function import Function, function
    if isinstance(func, Function):
        return func
    with warnings.catch_warnings():
        return function(func)


class _LazySpec:
    """A ``map``'s element spec, found by tracing its function only when asked."""

    def __init__(self, compute):
        self._compute = compute
        self._value = None

    def get(self):
        if self._value is None:
            self._value = self._compute()
        return self._value


def _resolve_spec(spec):
    return spec.get() if isinstance(spec, _LazySpec) else spec


def _map_spec(map_func, in_spec, ds):
    """The output spec of ``map_func``: traced on graph placeholders with the input's
    static shapes (unknown dims stay unknown), as TensorFlow traces it; a function that
    cannot be traced is run on the first element instead."""
    in_spec = _resolve_spec(in_spec)
    from yingshe import graph
    try:
        with graph.Graph().as_default():
            flat = [_core.wrap(graph.placeholder(_core.core_dtype(s.dtype),
                                                 None if s.shape is None else list(s.shape)))
                    for s in _flatten(in_spec)]
            args = _pack(in_spec, flat)[0]
            out = map_func(*args) if isinstance(args, tuple) and \
                not hasattr(args, "_fields") else map_func(args)
            if isinstance(out, list):
                out = tuple(out)
            return _map_structure(_spec_from_value, out)
    except Exception:  # noqa: BLE001 - any failure of the symbolic trace: use a value
        for e in ds._make_iter():
            args = _element_out(e)
            out = map_func(*args) if isinstance(args, tuple) else map_func(args)
            if isinstance(out, list):
                out = tuple(out)
            return _map_structure(lambda v: _spec_of(_to_array(v)), out)
        raise


def _spec_from_value(v):
    if isinstance(v, Tensor) and v._data is None:
        # a graph value's static shape: unknown dims (None, or -1 from a reshape) are None
        dims = tuple(None if d is None or d < 0 else d for d in v.shape)
        return TensorSpec(dims, _core._tensor_dtype(v))
    return _spec_of(_to_array(v))


class Options:
    """``tf.data.Options``: accepted; yingshe's pipelines have nothing to tune."""

    def __init__(self):
        self.experimental_deterministic = None
        self.deterministic = None


class _Experimental:
    AUTOTUNE = AUTOTUNE
    INFINITE_CARDINALITY = INFINITE_CARDINALITY
    UNKNOWN_CARDINALITY = UNKNOWN_CARDINALITY

    @staticmethod
    def cardinality(dataset):
        return dataset.cardinality()


experimental = _Experimental()

__getattr__ = unsupported_getattr(__name__)
