"""``yingshe.graph``: the define-and-run face (TensorFlow 1 style) on the op registry.

    >>> import yingshe, yingshe.graph as G
    >>> x = G.placeholder(yingshe.float64, [None, 2])
    >>> w = G.Variable(yingshe.ones(2, 1, dtype=yingshe.float64))
    >>> loss = ((x @ w) ** 2).mean()
    >>> (dw,) = G.gradients(loss, [w])
    >>> with G.Session() as s:
    ...     _ = s.run(G.global_variables_initializer())
    ...     s.run(dw, {x: [[1.0, 2.0]]}).ravel().tolist()
    [6.0, 12.0]

Every registered op accepts graph tensors (``Symbol``): it checks shapes and dtypes at
build time and adds a node. ``gradients`` adds gradient nodes with the ops' own VJP
rules. ``Session.run`` compiles the pruned graph (see ``passes``, ``codegen``).
Variable values are global to the process, not per session. ``yingshe.graph.train``
(TF1's graph optimizers) is registered here by ``yingshe.optim``, which owns it: the
compiler does not import the optimizers.
"""

from yingshe.graph.ir import (FeedError, Graph, GraphError, Node, Symbol,  # noqa: F401
                              UninitializedVariableError)
from yingshe.graph.build import (Variable, as_symbol, read, assign, assign_add,  # noqa: F401
                                 assign_sub, constant, get_default_graph, global_variables,
                                 global_variables_initializer, group, name_scope, no_op,
                                 placeholder, random_normal, random_uniform,
                                 reset_default_graph, stop_gradient, symbolic_apply,
                                 trainable_variables, variables_initializer)
from yingshe.graph.gradients import gradients  # noqa: F401
from yingshe.graph.session import InteractiveSession, Session, get_default_session  # noqa
from yingshe.graph.verify import VerifyError, verify  # noqa: F401
from yingshe.graph.viz import to_dot, to_mermaid, to_png  # noqa: F401

from yingshe.ops import _registry as _reg
from yingshe import autograd as _autograd
from yingshe.graph.gradients import autograd_grad as _autograd_grad

_reg.symbolic_apply = symbolic_apply
_autograd.symbolic_grad = _autograd_grad

Operation = Node
Tensor = Symbol
