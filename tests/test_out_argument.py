"""``out=``: the core refuses it with a clear error naming the function (never a silent
ignore); ``yingshe.torch`` implements it as PyTorch does (tests/torch_frontend)."""

import pytest

import yingshe as Y
from yingshe.errors import UnsupportedError

CALLS = {
    "zeros": lambda o: Y.zeros(3, out=o), "ones": lambda o: Y.ones(3, out=o),
    "empty": lambda o: Y.empty(3, out=o), "full": lambda o: Y.full((3,), 2.0, out=o),
    "arange": lambda o: Y.arange(3, out=o), "linspace": lambda o: Y.linspace(0, 1, 3, out=o),
    "logspace": lambda o: Y.logspace(0, 1, 3, out=o), "eye": lambda o: Y.eye(3, out=o),
    "rand": lambda o: Y.rand(3, out=o), "randn": lambda o: Y.randn(3, out=o),
    "randint": lambda o: Y.randint(0, 5, (3,), out=o), "randperm": lambda o: Y.randperm(3, out=o),
    "normal": lambda o: Y.normal(0.0, 1.0, (3,), out=o),
    "bernoulli": lambda o: Y.bernoulli(Y.full((3,), 0.5), out=o),
    "multinomial": lambda o: Y.multinomial(Y.ones(3), 3, out=o),
    "matmul": lambda o: Y.matmul(Y.ones(3, 2), Y.ones(2), out=o),
    "max": lambda o: Y.max(Y.ones(3), out=o), "min": lambda o: Y.min(Y.ones(3), out=o),
    "add": lambda o: Y.add(Y.ones(3), 1, out=o),
    "sum": lambda o: Y.sum(Y.ones(2, 3), 0, out=o),
    "mean": lambda o: Y.mean(Y.ones(2, 3), 0, out=o),
    "prod": lambda o: Y.prod(Y.ones(2, 3), 0, out=o),
    "amax": lambda o: Y.amax(Y.ones(2, 3), 0, out=o),
    "amin": lambda o: Y.amin(Y.ones(2, 3), 0, out=o),
    "var": lambda o: Y.var(Y.ones(2, 3), 0, out=o),
    "std": lambda o: Y.std(Y.ones(2, 3), 0, out=o),
    "cumsum": lambda o: Y.cumsum(Y.ones(3), 0, out=o),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_out_is_refused_by_name_and_out_is_untouched(name):
    out = Y.full((3,), 7.0)
    with pytest.raises(UnsupportedError, match=f"^{name}: the out= argument"):
        CALLS[name](out)
    assert out.tolist() == [7.0, 7.0, 7.0]
