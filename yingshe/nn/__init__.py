"""``yingshe.nn``: modules, parameters, layers, ``functional`` and ``init``
(PyTorch's ``torch.nn`` names, signatures, defaults and state-dict keys).

Example:
    >>> from yingshe import nn
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> [k for k in model.state_dict()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
"""

from yingshe.nn.parameter import Parameter  # noqa: F401
from yingshe.nn import functional  # noqa: F401
from yingshe.nn import init  # noqa: F401
from yingshe.nn.modules import *  # noqa: F401,F403
from yingshe.nn.modules import Module  # noqa: F401

# Written by other work in progress; each import is optional until it lands.
try:
    from yingshe.nn.modules.loss import *  # noqa: F401,F403
except ImportError:  # pragma: no cover
    pass
try:
    from yingshe.nn.modules.rnn import *  # noqa: F401,F403
except ImportError:  # pragma: no cover
    pass
try:
    from yingshe.nn.modules.transformer import *  # noqa: F401,F403
except ImportError:  # pragma: no cover
    pass
try:
    from yingshe.nn import utils  # noqa: F401
except ImportError:  # pragma: no cover
    pass
from yingshe.nn import parallel  # noqa: F401,E402
