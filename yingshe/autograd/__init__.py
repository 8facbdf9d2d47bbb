"""Reverse-mode automatic differentiation: the tape walk, ``grad``, grad modes.

``backward()`` and ``grad()`` share one iterative walk over the tape (no
recursion, so a 20,000-op chain works). Each node's VJP is the op's registered
rule, written with yingshe ops: run with grad recording off it is plain
computation; with ``create_graph=True`` it is recorded like any other op, which
gives derivatives of any order. Broadcast gradients are summed back to each
input's shape in exactly one place (``_fit_to_input``).
"""

from __future__ import annotations

import heapq
from itertools import repeat
from operator import is_not
from typing import Iterable, Sequence

import numpy as np

from yingshe._tensor import MODE, POST_ACCUMULATE_HOOKS, Node, Tensor, _wrap
from yingshe.errors import DTypeError, ShapeError, format_site
from yingshe.ops._shapes import shape_str, sum_to_axes

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "inference_mode", "detect_anomaly", "set_detect_anomaly",
           "Function", "FunctionCtx", "once_differentiable"]


# ---- grad modes ----------------------------------------------------------------------------

class _GradMode:
    """Base of the grad-mode context managers; also usable as decorators."""

    _value = True

    def __enter__(self):
        self._prev = MODE.grad_enabled
        MODE.grad_enabled = self._value
        return self

    def __exit__(self, *exc) -> None:
        MODE.grad_enabled = self._prev

    def __call__(self, fn):
        import functools

        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = MODE.grad_enabled
            MODE.grad_enabled = value
            try:
                return fn(*args, **kwargs)
            finally:
                MODE.grad_enabled = prev

        return wrapper


class _NoParamGradMode(_GradMode):
    """Also a decorator without parentheses (``@yingshe.no_grad``), as in PyTorch."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamGradMode):
    """Context manager and decorator: ops inside are not recorded on the tape."""

    _value = False


class enable_grad(_NoParamGradMode):
    """Context manager and decorator: turn recording back on inside ``no_grad``."""

    _value = True


class inference_mode(_GradMode):
    """Like ``no_grad`` (yingshe has no separate inference tensors)."""

    _value = False

    def __init__(self, mode: bool = True) -> None:
        self._value = not mode


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)``: as a function call or a context manager."""

    def __init__(self, mode: bool) -> None:
        self._prev = MODE.grad_enabled
        self._value = bool(mode)
        MODE.grad_enabled = self._value

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        MODE.grad_enabled = self._prev

    def __call__(self, fn):
        # used as a decorator: construction already switched the mode; undo that
        MODE.grad_enabled = self._prev
        return super().__call__(fn)


def is_grad_enabled() -> bool:
    return MODE.grad_enabled


class detect_anomaly:
    """Raise at the first op whose forward output or backward gradient has NaN/Inf,
    naming the op and the line that created it."""

    def __init__(self, check_nan: bool = True) -> None:
        self._check = check_nan

    def __enter__(self):
        self._prev = MODE.anomaly
        MODE.anomaly = self._check
        return self

    def __exit__(self, *exc) -> None:
        MODE.anomaly = self._prev


def set_detect_anomaly(mode: bool) -> None:
    MODE.anomaly = bool(mode)


# ---- the walk ------------------------------------------------------------------------------

def _as_tuple(x) -> tuple:
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def _root_grads(outputs: Sequence[Tensor], grad_outputs, create_graph: bool) -> list:
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(
            f"grad_outputs has {len(grad_outputs)} entries but there are {len(outputs)} outputs"
        )
    result = []
    for out, g in zip(outputs, grad_outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"backward: expected tensors as outputs, got {type(out).__name__}")
        if not out.requires_grad:  # (the property brings a stale view's history up to date)
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if out._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs, but the output "
                    f"has shape {shape_str(out.shape)}; pass gradient= explicitly"
                )
            g = _wrap(np.ones(out._data.shape, dtype=out._data.dtype))
        else:
            if not isinstance(g, Tensor):
                g = _wrap(np.asarray(g, dtype=out._data.dtype))
            if g.shape != out.shape:
                raise ShapeError(
                    f"backward: gradient has shape {shape_str(g.shape)} but the output has "
                    f"shape {shape_str(out.shape)}"
                )
            if not create_graph:
                g = _wrap(g._data)
        result.append(g)
    return result


def _fit_to_input(node: Node, i: int, g: Tensor, ref) -> Tensor:
    """Sum a broadcast gradient back to the input's shape and cast it to its dtype;
    an impossible fit is a bug in the op's VJP, and the error blames it.

    The one place broadcasting is undone, for the eager tape and for symbolic
    ``yingshe.graph.gradients`` alike (``g`` and ``ref`` may be graph symbols)."""
    shape = tuple(ref.shape)
    if tuple(g.shape) != shape:
        try:
            sum_to_axes(g.shape, shape)
        except ShapeError:
            raise ShapeError(
                f"the VJP of op '{node.op.name}' returned a gradient of shape "
                f"{shape_str(g.shape)} for input {i} of shape {shape_str(shape)} "
                "(a bug in that op's rule)"
            ) from None
        from yingshe.ops.shape import sum_to_size
        g = sum_to_size(g, shape)
    ref_data = getattr(ref, "_data", None)
    if ref_data is not None and g._data is not None:  # eager fast path: NumPy dtypes
        if g._data.dtype == ref_data.dtype:
            return g
    dt = ref.dtype
    if g.dtype is not dt:
        if not dt.is_floating_point:
            raise DTypeError(
                f"the VJP of op '{node.op.name}' returned a gradient for integer input {i}"
            )
        g = g.to(dt)
    return g


def _check_saved(node: Node) -> None:
    if node.freed:
        raise RuntimeError(
            f"trying to backward through the graph a second time (op '{node.op.name}'"
            f"{_at(node)}): its saved values were freed after the first backward. "
            "Pass retain_graph=True to the first backward() if you need to do this."
        )
    if node.saved_versions is not None:
        for x, v in zip(node.inputs, node.saved_versions):
            if v is not None and isinstance(x, Tensor) and x._vc[0] != v:
                raise RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified "
                    f"by an in-place operation: input of shape {shape_str(x.shape)} of op "
                    f"'{node.op.name}'{_at(node)} is at version {x._vc[0]}; expected version "
                    f"{v}. Make a copy (x.clone()) before changing it in place."
                )
    if node.out_vcs is not None and node.op.check_outputs:
        for vc, v in zip(node.out_vcs, node.out_versions):
            if vc[0] != v:
                raise RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified "
                    f"by an in-place operation: the output of op '{node.op.name}'{_at(node)} "
                    f"is at version {vc[0]}; expected version {v}."
                )


def _at(node: Node) -> str:
    return f" created at {format_site(node.site)}" if node.site else ""


def _outputs_of(node: Node, create_graph: bool):
    data = node.out_data
    if data is None:
        return None
    if node.op.num_outputs == 1:
        return _wrap(data, create_graph, node if create_graph else None, 0, node.out_vcs[0])
    return tuple(
        _wrap(d, create_graph and d.dtype.kind == "f",
              node if create_graph and d.dtype.kind == "f" else None, i, node.out_vcs[i])
        for i, d in enumerate(data)
    )


def _call_vjp(node: Node, grads: list, needs: tuple, create_graph: bool) -> tuple:
    op = node.op
    if node.ctx is not None:  # a user-defined autograd.Function
        return node.ctx._run_backward(grads)
    out = _outputs_of(node, create_graph)
    if op.num_outputs == 1:
        g = grads[0]
    else:
        # an output nobody differentiated gets a zero gradient: a read-only broadcast of one
        # zero (no allocation; LSTM's hidden residuals are whole-sequence arrays)
        g = tuple(
            gi if gi is not None
            else (_wrap(np.broadcast_to(np.zeros((), node.out_data[i].dtype),
                                        node.out_data[i].shape))
                  if node.out_data is not None else None)
            for i, gi in enumerate(grads)
        )
    if op.vjp_takes_needs:
        result = op.vjp(g, out, *node.inputs, needs=needs, **node.attrs)
    else:
        result = op.vjp(g, out, *node.inputs, **node.attrs)
    if len(node.edges) == 1 and not isinstance(result, (tuple, list)):
        result = (result,)
    if len(result) != len(node.edges):
        raise RuntimeError(
            f"the VJP of op '{op.name}' returned {len(result)} gradients for "
            f"{len(node.edges)} inputs"
        )
    return result


def _check_grad_finite(node: Node, i: int, g: Tensor) -> None:
    d = g._data
    if d is not None and d.dtype.kind == "f" and not np.isfinite(d).all():
        raise RuntimeError(
            f"detect_anomaly: the backward of op '{node.op.name}' returned NaN or Inf for its "
            f"input {i}; the op was created at {format_site(node.site) or '(unknown)'}"
        )


def _num_outputs(node: Node) -> int:
    return node.op.n_outputs(node.attrs) if node.ctx is None else node.ctx._num_outputs


def _base_id(a) -> int:
    while a.base is not None:
        a = a.base
    return id(a)


def _useful_nodes(root_nodes, target_nodes: set, target_leaves: set) -> set:
    """Nodes from which some target is reachable: only these need a VJP in ``grad()``."""
    useful: set = set()
    state: dict = {}
    for r in root_nodes:
        if r in state:
            continue
        stack = [(r, False)]
        while stack:
            n, done = stack.pop()
            if done:
                ok = n in target_nodes
                if not ok:
                    for e in n.edges:
                        if e is None:
                            continue
                        if isinstance(e, tuple):
                            if e[0] in useful:
                                ok = True
                                break
                        elif id(e) in target_leaves:
                            ok = True
                            break
                if ok:
                    useful.add(n)
                state[n] = 2
                continue
            if n in state:
                continue
            state[n] = 1
            stack.append((n, True))
            for e in n.edges:
                if isinstance(e, tuple) and e[0] not in state:
                    stack.append((e[0], False))
    return useful


_NONES = repeat(None)


def _run(outputs, root_grads, retain_graph: bool, create_graph: bool,
         capture: dict | None, accumulate_into=None) -> None:
    """The one reverse walk.

    ``capture`` maps id(tensor) -> slot for ``grad()``: leaf tensors are captured
    where their gradient arrives, non-leaf tensors at their producing node; nothing
    is accumulated into ``.grad`` then. Without ``capture`` gradients accumulate into
    leaves' ``.grad`` (only those in ``accumulate_into`` when that is given).
    """
    buffers: dict[Node, list] = {}
    leaf_roots = []
    for out, g in zip(outputs, root_grads):
        node = out._node
        if node is None:
            leaf_roots.append((out, g))
            continue
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * _num_outputs(node)
        i = out._out_index
        buf[i] = g if buf[i] is None else buf[i] + g

    capture_nodes = {}
    target_leaves: set = set()
    if capture is not None:
        for key, (t, _) in capture.items():
            if t._node is not None:
                capture_nodes.setdefault(t._node, []).append((t._out_index, key))
            else:
                target_leaves.add(key)
    elif accumulate_into is not None:
        for t in accumulate_into:
            if t._node is not None:
                capture_nodes.setdefault(t._node, []).append((t._out_index, id(t)))
            else:
                target_leaves.add(id(t))

    # dependency counts over the reachable (and, for grad(), useful) part of the tape
    useful = None
    if capture is not None or accumulate_into is not None:
        useful = _useful_nodes(list(buffers), set(capture_nodes), target_leaves)
    deps: dict[Node, int] = {}
    stack = [n for n in buffers if useful is None or n in useful]
    seen = set(stack)
    while stack:
        n = stack.pop()
        for e in n.edges:
            if isinstance(e, tuple):
                m = e[0]
                if useful is not None and m not in useful:
                    continue
                deps[m] = deps.get(m, 0) + 1
                if m not in seen:
                    seen.add(m)
                    stack.append(m)

    handed_out: set[int] = set()
    for g in root_grads:
        handed_out.add(_base_id(g._data))

    # post-accumulate-grad hooks run once per leaf, after its last incoming edge
    pending = _post_hook_pending(seen, leaf_roots) if (
        POST_ACCUMULATE_HOOKS and capture is None) else None
    delivered: set[int] = set()

    def deliver_leaf(t: Tensor, g: Tensor) -> None:
        if capture is not None:
            key = id(t)
            if key in capture:
                tt, prev = capture[key]
                capture[key] = (tt, g if prev is None else prev + g)
            return
        if accumulate_into is not None and id(t) not in target_leaves:
            return
        if t._hooks:
            for hook in list(t._hooks):
                r = hook(g)
                if r is not None:
                    g = r
        _accumulate(t, g, create_graph, handed_out)
        if pending is not None:
            delivered.add(id(t))

    for t, g in leaf_roots:
        deliver_leaf(t, g)
    if pending:
        for t, _ in leaf_roots:
            _post_hook_arrived(t, pending, delivered)

    heap = [(-n.seq, id(n), n) for n in buffers if deps.get(n, 0) == 0
            and (useful is None or n in useful)]
    heapq.heapify(heap)
    anomaly = MODE.anomaly
    prev_mode = MODE.grad_enabled
    MODE.grad_enabled = create_graph
    # in anomaly mode a VJP's *result* is checked (naming the op being differentiated);
    # the forward check is off meanwhile, so an op used inside a VJP is not blamed
    MODE.anomaly = False
    # VJPs legitimately form 0 * inf and the like (the gradient of sqrt at 0); PyTorch
    # gives inf/nan silently. One errstate for the whole walk costs ~1 us per backward.
    errstate = np.errstate(all="ignore")
    errstate.__enter__()
    try:
        while heap:
            _, _, node = heapq.heappop(heap)
            grads = buffers.pop(node, None)
            if grads is None:
                grads = [None] * _num_outputs(node)
            if node.hooks:
                for idx, hooks in node.hooks.items():
                    if grads[idx] is not None:
                        for hook in list(hooks):
                            r = hook(grads[idx])
                            if r is not None:
                                grads[idx] = r
            if node.retains:
                for idx, ref in node.retains.items():
                    t = ref()
                    if t is not None and grads[idx] is not None:
                        gi = grads[idx]
                        t.grad = gi if create_graph else _wrap(gi._data.copy())
            if node in capture_nodes:
                for idx, key in capture_nodes[node]:
                    if capture is not None:
                        tt, _ = capture[key]
                        capture[key] = (tt, grads[idx])
                    elif grads[idx] is not None:
                        t = next(x for x in accumulate_into if id(x) == key)
                        _accumulate(t, grads[idx], create_graph, handed_out)

            edges = node.edges
            if useful is not None:
                needs = tuple(
                    e is not None and (e[0] in useful if isinstance(e, tuple)
                                       else id(e) in target_leaves)
                    for e in edges
                )
            else:  # (map over a C function: no comprehension frame per node)
                needs = tuple(map(is_not, edges, _NONES))
            has_grad = grads[0] is not None if len(grads) == 1 else \
                any(g is not None for g in grads)
            if has_grad and True in needs:
                if node.freed or node.saved_versions is not None or node.out_vcs is not None:
                    _check_saved(node)
                in_grads = _call_vjp(node, grads, needs, create_graph)
            else:
                in_grads = (None,) * len(edges)
            if not retain_graph and node.op.saves != "none":
                node.freed = True
                node.out_data = None
                if node.ctx is not None:
                    node.ctx._saved = None

            for i, (e, g) in enumerate(zip(edges, in_grads)):
                if e is None or not needs[i]:
                    continue
                if g is not None:
                    if type(g) is not Tensor and not isinstance(g, Tensor):
                        raise TypeError(
                            f"the VJP of op '{node.op.name}' returned a "
                            f"{type(g).__name__} for input {i}; expected a tensor or None"
                        )
                    ref = node.inputs[i] if node.inputs is not None else e
                    gd = g._data
                    rd = ref._data if type(ref) is Tensor or isinstance(ref, Tensor) else None
                    # fast path: the gradient already has the input's shape and dtype
                    if gd is None or not (
                            (gd.shape == rd.shape and gd.dtype == rd.dtype) if rd is not None
                            else (gd.shape == ref.shape and gd.dtype == ref.dtype.np)):
                        g = _fit_to_input(node, i, g, ref)
                    if anomaly:
                        _check_grad_finite(node, i, g)
                if isinstance(e, tuple):
                    m, idx = e
                    if g is not None:
                        buf = buffers.get(m)
                        if buf is None:
                            n = m.op.num_outputs if m.ctx is None else None
                            buf = buffers[m] = [None] * (n or _num_outputs(m))
                        buf[idx] = g if buf[idx] is None else buf[idx] + g
                    deps[m] -= 1
                    if deps[m] == 0:
                        heapq.heappush(heap, (-m.seq, id(m), m))
                elif g is not None:
                    deliver_leaf(e, g)
            if pending:
                for e in edges:
                    if e is not None and not isinstance(e, tuple):
                        _post_hook_arrived(e, pending, delivered)
    finally:
        errstate.__exit__(None, None, None)
        MODE.grad_enabled = prev_mode
        MODE.anomaly = anomaly


def _post_hook_pending(nodes, leaf_roots) -> dict:
    """{id(leaf with post-accumulate hooks): edges into it from the nodes this walk runs}."""
    pending: dict[int, int] = {}
    hooked = POST_ACCUMULATE_HOOKS
    for n in nodes:
        for e in n.edges:
            if e is not None and not isinstance(e, tuple) and id(e) in hooked:
                pending[id(e)] = pending.get(id(e), 0) + 1
    for t, _ in leaf_roots:
        if id(t) in hooked:
            pending[id(t)] = pending.get(id(t), 0) + 1
    return pending


def _post_hook_arrived(t: Tensor, pending: dict, delivered: set) -> None:
    """One edge into ``t`` is done; after the last one, run its hooks on the final
    ``.grad`` (when this walk gave it a gradient)."""
    key = id(t)
    left = pending.get(key)
    if left is None:
        return
    if left > 1:
        pending[key] = left - 1
        return
    del pending[key]
    entry = POST_ACCUMULATE_HOOKS.get(key)
    if key in delivered and entry is not None:
        for hook in list(entry[1]):
            hook(t)


def run_post_accumulate_hooks(tensors) -> None:
    """Run the post-accumulate-grad hooks of ``tensors`` (for a backward that is not the
    tape walk: ``yingshe.compile``'s traced ``backward()``)."""
    if not POST_ACCUMULATE_HOOKS:
        return
    for t in tensors:
        entry = POST_ACCUMULATE_HOOKS.get(id(t))
        if entry is not None:
            for hook in list(entry[1]):
                hook(t)


def _accumulate(t: Tensor, g: Tensor, create_graph: bool, handed_out: set) -> None:
    """Add ``g`` into ``t.grad`` as PyTorch does: store it the first time (copied when
    it aliases another gradient or is not a plain writeable array), then add in place."""
    if create_graph:
        t.grad = g if t.grad is None else t.grad + g
        return
    arr = g._data
    if t.grad is None:
        key = _base_id(arr)
        if key in handed_out or not (arr.flags.writeable and arr.flags.owndata):
            arr = np.array(arr, copy=True)
            key = id(arr)
        handed_out.add(key)
        t.grad = _wrap(arr)
        return
    cur = t.grad._data
    if cur.flags.writeable and cur.shape == arr.shape and cur.dtype == arr.dtype \
            and t.grad._node is None:
        np.add(cur, arr, out=cur)
        t.grad._vc[0] += 1
    else:
        t.grad = _wrap(cur + arr)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False,
             inputs=None) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves they
    depend on (or only of ``inputs``), as ``torch.autograd.backward``."""
    outputs = _as_tuple(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_grads(outputs, grad_tensors, create_graph)
    accumulate_into = None
    if inputs is not None:
        accumulate_into = list(_as_tuple(inputs))
        if not accumulate_into:
            raise RuntimeError("backward: 'inputs' must not be empty")
    _run(outputs, roots, retain_graph, create_graph, None, accumulate_into)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused=None, is_grads_batched: bool = False,
         materialize_grads: bool = False):
    """Gradients of ``outputs`` with respect to ``inputs`` (a tuple), as
    ``torch.autograd.grad``; with ``create_graph=True`` the result is differentiable.

    Example:
        >>> x = yingshe.tensor(3.0, requires_grad=True)
        >>> (dx,) = yingshe.autograd.grad(x ** 3, x, create_graph=True)
        >>> yingshe.autograd.grad(dx, x)[0].item()   # d2/dx2 x^3 = 6x
        18.0
    """
    if is_grads_batched:
        from yingshe.errors import UnsupportedError
        raise UnsupportedError("yingshe.autograd.grad: is_grads_batched is not supported")
    outs = _as_tuple(outputs)
    ins = _as_tuple(inputs)
    if any(isinstance(o, Tensor) and o._data is None for o in outs):
        return symbolic_grad(outs, ins, grad_outputs, allow_unused, materialize_grads,
                             create_graph)
    for t in ins:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("one of the differentiated tensors does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    roots = _root_grads(outs, grad_outputs, create_graph)
    capture = {id(t): (t, None) for t in ins}
    _run(outs, roots, retain_graph, create_graph, capture)
    result = []
    for t in ins:
        g = capture[id(t)][1]
        if g is None:
            if materialize_grads:
                g = _wrap(np.zeros_like(t._data))
            elif not allow_unused:
                raise RuntimeError(
                    f"one of the differentiated tensors (shape {shape_str(t.shape)}) appears "
                    "not to have been used in the graph; set allow_unused=True if this is "
                    "the desired behavior"
                )
        elif not create_graph and g._node is not None:
            g = _wrap(g._data)
        result.append(g)
    return tuple(result)


# Set by yingshe.graph when it is imported: ``grad`` of graph values (a TF1-style graph,
# or inside ``yingshe.compile``), built as graph nodes. The tape knows no graph (DESIGN's
# layers), as ``ops`` knows no graph but ``symbolic_apply``.
symbolic_grad = None


from yingshe.autograd.function import Function, FunctionCtx, once_differentiable  # noqa: E402
