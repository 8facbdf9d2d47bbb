"""nonzero / argwhere / one-argument where / unique / bincount against PyTorch (values,
shapes, dtypes), hypothesis over shapes and values; their refusal in graphs, where the
result's shape would depend on values that do not exist yet."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import yingshe
import yingshe.graph as G
from yingshe.errors import UnsupportedError
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import summation_atol

SMALL_INTS = hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                        elements=st.integers(-2, 2))


def _same(ours, ref):
    if isinstance(ref, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _same(a, b)
        return
    r = ref.numpy()
    o = ours.numpy()
    assert o.shape == r.shape and o.dtype == r.dtype, (o.shape, o.dtype, r.shape, r.dtype)
    np.testing.assert_array_equal(o, r)


@settings(max_examples=60, deadline=None)
@given(a=SMALL_INTS, as_tuple=st.booleans())
def test_nonzero_and_where_match_torch(a, as_tuple):
    torch = import_torch()
    x, t = yingshe.tensor(a), torch.tensor(a)
    _same(yingshe.nonzero(x, as_tuple=as_tuple), torch.nonzero(t, as_tuple=as_tuple))
    _same(x.argwhere(), torch.argwhere(t))
    if a.ndim:
        _same(yingshe.where(x != 0), torch.where(t != 0))


@settings(max_examples=60, deadline=None)
@given(a=SMALL_INTS, inverse=st.booleans(), counts=st.booleans(), data=st.data())
def test_unique_matches_torch(a, inverse, counts, data):
    torch = import_torch()
    kw = {"return_inverse": inverse, "return_counts": counts}
    _same(yingshe.unique(yingshe.tensor(a), **kw), torch.unique(torch.tensor(a), **kw))
    if a.ndim and a.size:
        dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
        _same(yingshe.tensor(a).unique(dim=dim, **kw), torch.tensor(a).unique(dim=dim, **kw))


@settings(max_examples=60, deadline=None)
@given(a=hnp.arrays(np.int64, st.integers(0, 8), elements=st.integers(0, 6)),
       minlength=st.integers(0, 9), weighted=st.sampled_from([None, "float32", "float64"]))
def test_bincount_matches_torch(a, minlength, weighted):
    torch = import_torch()
    if weighted is None:
        _same(yingshe.bincount(yingshe.tensor(a), minlength=minlength),
              torch.bincount(torch.tensor(a), minlength=minlength))
        return
    w = np.linspace(-1, 2, a.size).astype(weighted)
    ours = yingshe.tensor(a).bincount(yingshe.tensor(w), minlength)
    ref = torch.tensor(a).bincount(torch.tensor(w), minlength)
    assert ours.numpy().dtype == ref.numpy().dtype
    # each bin is a short weighted sum: where it cancels to ~0 the two libraries' summation
    # orders differ by roundoff of the terms, not of the result
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6,
                               atol=summation_atol(w.dtype, float(np.abs(w).sum()), a.size))


@pytest.mark.parametrize("bad", [np.array([-1, 2]), np.array([[1]]), np.array([0.5])])
def test_bincount_refuses_what_torch_refuses(bad):
    torch = import_torch()
    with pytest.raises(RuntimeError, match="1-d non-negative integral"):
        yingshe.bincount(yingshe.tensor(bad))
    with pytest.raises(RuntimeError):
        torch.bincount(torch.tensor(bad))


@pytest.mark.parametrize("fn", [lambda x: x.nonzero(), lambda x: yingshe.where(x > 0),
                                lambda x: x.unique(), lambda x: x.long().bincount()])
def test_data_dependent_shapes_are_refused_in_graphs_and_compiled_code(fn):
    G.reset_default_graph()
    x = G.placeholder(yingshe.float32, [4])
    with pytest.raises(UnsupportedError, match="depends on the values"):
        fn(x)
    compiled = yingshe.compile(lambda t: fn(t)[0] * 1)
    with pytest.raises(UnsupportedError, match="depends on the values"):
        compiled(yingshe.tensor([1.0, 0.0, 2.0, 0.0]))
