"""The framework generator: reproducibility, state save/restore, and the
distributions' shapes, dtypes, ranges and moments (streams differ from PyTorch's by
design, so values are checked statistically, never against PyTorch's numbers)."""

import json

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import torch as import_torch

DRAWS = {
    "rand": lambda g=None: yingshe.rand(4, 5, generator=g),
    "randn": lambda g=None: yingshe.randn(4, 5, generator=g),
    "randint": lambda g=None: yingshe.randint(-3, 9, (7,), generator=g),
    "randperm": lambda g=None: yingshe.randperm(10, generator=g),
    "normal": lambda g=None: yingshe.normal(2.0, 3.0, (6,), generator=g),
    "bernoulli": lambda g=None: yingshe.bernoulli(yingshe.full((9,), 0.3), generator=g),
    "multinomial": lambda g=None: yingshe.multinomial(yingshe.ones(2, 6), 4, generator=g),
    "uniform_": lambda g=None: yingshe.empty(5).uniform_(-2, 2, generator=g),
    "normal_": lambda g=None: yingshe.empty(5).normal_(1, 2, generator=g),
    "bernoulli_": lambda g=None: yingshe.empty(8).bernoulli_(0.5, generator=g),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_manual_seed_reproduces_and_advances(name):
    draw = DRAWS[name]
    yingshe.manual_seed(123)
    a, b = draw().numpy().copy(), draw().numpy().copy()
    yingshe.manual_seed(123)
    a2, b2 = draw().numpy(), draw().numpy()
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    if name not in ("bernoulli", "bernoulli_"):
        assert not np.array_equal(a, b), "the stream must advance between draws"


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_explicit_generator_is_independent_of_the_default(name):
    draw = DRAWS[name]
    g = yingshe.Generator().manual_seed(7)
    a = draw(g).numpy().copy()
    yingshe.manual_seed(0)
    before = yingshe.get_rng_state()
    g.manual_seed(7)
    b = draw(g).numpy()
    np.testing.assert_array_equal(a, b)
    assert yingshe.get_rng_state() == before, "a named generator must not touch the default"


def test_different_seeds_differ():
    yingshe.manual_seed(1)
    a = yingshe.randn(100).numpy().copy()
    yingshe.manual_seed(2)
    assert not np.array_equal(a, yingshe.randn(100).numpy())


def test_state_roundtrip_through_json_reproduces_the_stream():
    yingshe.manual_seed(5)
    yingshe.randn(3)  # advance somewhere
    state = yingshe.get_rng_state()
    text = json.dumps(state)
    want = [yingshe.randn(17).numpy().copy(), yingshe.rand(3).numpy().copy(),
            yingshe.randint(0, 100, (4,)).numpy().copy()]
    yingshe.manual_seed(99)
    yingshe.set_rng_state(json.loads(text))
    got = [yingshe.randn(17).numpy(), yingshe.rand(3).numpy(),
           yingshe.randint(0, 100, (4,)).numpy()]
    for w, g in zip(want, got):
        np.testing.assert_array_equal(w, g)


def test_state_tensor_and_generator_methods():
    g = yingshe.Generator()
    assert g.manual_seed(11) is g
    assert g.initial_seed() == 11
    st = g.state_tensor()
    assert st.dtype is yingshe.uint8 and st.ndim == 1
    a = yingshe.rand(6, generator=g).numpy().copy()
    g2 = yingshe.Generator().set_state(st)
    np.testing.assert_array_equal(a, yingshe.rand(6, generator=g2).numpy())
    assert g2.initial_seed() == 11
    c = g.clone_state()
    np.testing.assert_array_equal(yingshe.rand(4, generator=g).numpy(),
                                  yingshe.rand(4, generator=c).numpy())


def test_module_level_functions():
    g = yingshe.manual_seed(42)
    assert g is yingshe.default_generator and yingshe.initial_seed() == 42
    s = yingshe.seed()
    assert yingshe.initial_seed() == s and 0 <= s < 2 ** 64
    yingshe.manual_seed(-1)  # PyTorch accepts negative seeds (wrapped modulo 2**64)
    assert yingshe.initial_seed() == 2 ** 64 - 1
    with pytest.raises(RuntimeError):
        yingshe.manual_seed(2 ** 64)
    with pytest.raises(TypeError):
        yingshe.manual_seed("abc")


def test_torch_seed_range_agrees():
    torch = import_torch()
    for s in (-1, 0, 2 ** 64 - 1):
        torch.manual_seed(s)
        yingshe.manual_seed(s)
        assert torch.initial_seed() == yingshe.initial_seed()


def test_set_state_rejects_garbage():
    with pytest.raises((ValueError, TypeError)):
        yingshe.set_rng_state({"bit_generator": "MT19937"})
    with pytest.raises((ValueError, TypeError)):
        yingshe.set_rng_state(yingshe.tensor([1, 2, 3]))


def test_fork_rng_restores_the_default_stream():
    yingshe.manual_seed(3)
    want = yingshe.rand(5).numpy().copy()
    yingshe.manual_seed(3)
    with yingshe.random.fork_rng():
        yingshe.rand(100)
    np.testing.assert_array_equal(want, yingshe.rand(5).numpy())


def test_resolve_draws_from_the_default_generator():
    yingshe.manual_seed(8)
    a = yingshe.random.resolve(None).random(3)
    yingshe.manual_seed(8)
    np.testing.assert_array_equal(a, yingshe.random.resolve(yingshe.default_generator).random(3))
    with pytest.raises(TypeError):
        yingshe.random.resolve(3)


def test_numpy_global_state_is_not_used():
    np.random.seed(0)
    yingshe.manual_seed(0)
    a = yingshe.rand(5).numpy().copy()
    np.random.seed(1)
    np.random.rand(10)
    yingshe.manual_seed(0)
    np.testing.assert_array_equal(a, yingshe.rand(5).numpy())


# ---- distributions: shape, dtype, range, moments --------------------------------------------

N = 200_000


def _mean_ok(x, mu, sigma, n):
    # 6 standard errors: a false alarm has probability ~2e-9
    assert abs(x.mean() - mu) < 6 * sigma / np.sqrt(n), (x.mean(), mu)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_rand_range_and_moments(dtype):
    x = yingshe.rand(N, dtype=getattr(yingshe, dtype))
    assert x.dtype is getattr(yingshe, dtype) and x.shape == (N,)
    a = x.numpy().astype(np.float64)
    assert a.min() >= 0 and a.max() < 1
    _mean_ok(a, 0.5, np.sqrt(1 / 12), N)
    assert abs(a.var() - 1 / 12) < 0.002


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_randn_moments(dtype):
    a = yingshe.randn(N, dtype=getattr(yingshe, dtype)).numpy().astype(np.float64)
    _mean_ok(a, 0.0, 1.0, N)
    assert abs(a.std() - 1) < 0.01
    assert abs(((a - a.mean()) ** 3).mean()) < 0.03  # symmetric


def test_normal_variants_moments():
    a = yingshe.normal(2.0, 3.0, (N,)).numpy().astype(np.float64)
    _mean_ok(a, 2.0, 3.0, N)
    assert abs(a.std() - 3.0) < 0.03
    mean = yingshe.tensor([[-5.0], [5.0]], dtype=yingshe.float64)
    n = N // 4
    std = yingshe.full((n,), 2.0, dtype=yingshe.float64)
    out = yingshe.normal(mean, std)  # (2, 1) with (n,) broadcast to (2, n)
    assert out.shape == (2, n) and out.dtype is yingshe.float64
    rows = out.numpy()
    for row, mu in zip(rows, (-5.0, 5.0)):
        _mean_ok(row, mu, 2.0, n)
        assert abs(row.std() - 2.0) < 0.04
    big = yingshe.normal(yingshe.full((N,), -1.0), 0.5).numpy().astype(np.float64)
    _mean_ok(big, -1.0, 0.5, N)
    assert abs(big.std() - 0.5) < 0.005
    t = yingshe.empty(N).normal_(4.0, 0.25).numpy().astype(np.float64)
    _mean_ok(t, 4.0, 0.25, N)


def test_uniform_inplace_range_and_moments():
    a = yingshe.empty(N).uniform_(-2.0, 6.0).numpy().astype(np.float64)
    assert a.min() >= -2 and a.max() < 6
    _mean_ok(a, 2.0, 8 / np.sqrt(12), N)


def test_randint_range_and_frequencies():
    a = yingshe.randint(-3, 4, (N,)).numpy()
    assert a.dtype == np.int64
    assert a.min() == -3 and a.max() == 3
    counts = np.bincount(a + 3, minlength=7)
    expected = N / 7
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 40  # 6 degrees of freedom: P(chi2 > 40) ~ 5e-7
    assert yingshe.randint(5, (3,), dtype=yingshe.int32).dtype is yingshe.int32
    like = yingshe.randint_like(yingshe.zeros(2, 3), 10)
    assert like.shape == (2, 3) and like.dtype is yingshe.float32
    b = like.numpy()
    assert ((b >= 0) & (b < 10) & (b == np.round(b))).all()


def test_randperm_is_a_permutation():
    for n in (0, 1, 17):
        p = yingshe.randperm(n).numpy()
        assert p.dtype == np.int64
        np.testing.assert_array_equal(np.sort(p), np.arange(n))
    firsts = np.array([yingshe.randperm(4).numpy()[0] for _ in range(4000)])
    counts = np.bincount(firsts, minlength=4)
    assert ((counts - 1000) ** 2 / 1000).sum() < 30


def test_bernoulli_frequencies_and_dtype():
    p = yingshe.tensor([0.0, 0.2, 0.9, 1.0], dtype=yingshe.float64)
    draws = yingshe.bernoulli(p.expand(N // 4, 4)).numpy()
    assert draws.dtype == np.float64 and set(np.unique(draws)) <= {0.0, 1.0}
    freq = draws.mean(axis=0)
    assert freq[0] == 0 and freq[3] == 1
    n = N // 4
    for f, q in zip(freq[1:3], (0.2, 0.9)):
        assert abs(f - q) < 6 * np.sqrt(q * (1 - q) / n)
    filled = yingshe.zeros(N, dtype=yingshe.int64).bernoulli_(0.25).numpy()
    assert filled.dtype == np.int64 and abs(filled.mean() - 0.25) < 0.006


def test_multinomial_frequencies():
    probs = yingshe.tensor([1.0, 3.0, 0.0, 6.0])
    draws = yingshe.multinomial(probs, 40_000, replacement=True).numpy()
    assert draws.shape == (40_000,) and draws.dtype == np.int64
    freq = np.bincount(draws, minlength=4) / 40_000
    np.testing.assert_allclose(freq, [0.1, 0.3, 0.0, 0.6], atol=0.015)
    rows = yingshe.multinomial(yingshe.rand(5, 8) + 0.1, 8)  # without replacement
    for r in rows.numpy():
        np.testing.assert_array_equal(np.sort(r), np.arange(8))
    # categories of probability 0 come last once the positive ones are used up (PyTorch)
    out = yingshe.multinomial(yingshe.tensor([0.0, 1.0, 0.0]), 3).numpy()
    assert out[0] == 1 and sorted(out[1:]) == [0, 2]


def test_rand_like_and_randn_like_follow_input():
    x = yingshe.zeros(3, 2, dtype=yingshe.float64)
    for f in (yingshe.rand_like, yingshe.randn_like):
        y = f(x)
        assert y.shape == (3, 2) and y.dtype is yingshe.float64
    with pytest.raises((TypeError, RuntimeError)):
        yingshe.rand_like(yingshe.zeros(2, dtype=yingshe.int64))


def test_dtypes_and_shapes_match_torch():
    torch = import_torch()
    calls = [lambda m: m.rand(2, 3), lambda m: m.randn((4,), dtype=m.float64),
             lambda m: m.randint(3, 10, (2, 2)), lambda m: m.randperm(5),
             lambda m: m.normal(m.zeros(2, dtype=m.float64), 1.0),
             lambda m: m.normal(m.zeros(2), m.ones(3, 1)),
             lambda m: m.bernoulli(m.full((3,), 0.5)),
             lambda m: m.multinomial(m.ones(2, 4), 2),
             lambda m: m.randint_like(m.ones(2), 5),
             lambda m: m.rand(size=(0, 2))]
    for call in calls:
        y, t = call(yingshe), call(torch)
        assert str(y.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        assert tuple(y.shape) == tuple(t.shape)


def test_random_ops_are_flagged_random():
    from yingshe.ops import REGISTRY
    for name in ("uniform", "normal", "randint", "randperm", "bernoulli", "multinomial"):
        assert REGISTRY[name].random
