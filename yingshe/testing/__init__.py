"""Public testing helpers: gradient checks against finite differences, the op table,
and DESIGN's tolerances. Users writing their own ops can use them too."""

from yingshe.testing.gradcheck import check_vjp, check_second_order, numerical_vjp  # noqa: F401
from yingshe.testing.tolerances import TOL  # noqa: F401
