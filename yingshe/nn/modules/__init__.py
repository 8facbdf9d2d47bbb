"""The layer modules of ``yingshe.nn`` (re-exported there)."""

from yingshe.nn.modules.module import Module, RemovableHandle  # noqa: F401
from yingshe.nn.modules.activation import *  # noqa: F401,F403
from yingshe.nn.modules.container import *  # noqa: F401,F403
from yingshe.nn.modules.conv import *  # noqa: F401,F403
from yingshe.nn.modules.dropout import *  # noqa: F401,F403
from yingshe.nn.modules.flatten import *  # noqa: F401,F403
from yingshe.nn.modules.linear import *  # noqa: F401,F403
from yingshe.nn.modules.normalization import *  # noqa: F401,F403
from yingshe.nn.modules.pooling import *  # noqa: F401,F403
from yingshe.nn.modules.sparse import *  # noqa: F401,F403
from yingshe.nn.modules.upsampling import *  # noqa: F401,F403
