"""Fused optimizer updates: one registered op per optimizer family and parameter.

PyTorch's ``fused=True`` idea: the whole update of one parameter (and its state) is one
op instead of a dozen elementwise ones. Each op here has

``forward(xp, p, g, *state, *hyper, **attrs)``
    the functional form, what a graph node runs (``yingshe.compile``'d training steps,
    TF1-style ``minimize()``): new arrays for the parameter and its state, which the
    graph then assigns;
``scalar(p, g, *state, *hyper, *attrs)``
    the per-element formula (``OpDef.scalar``): the source of the one-pass numba kernel
    and of the compiler's fusion;

and an in-place form, ``update_(op, ...)``, that eager ``step()`` calls on the backend
arrays (PyTorch's ``_fused_adam_`` beside ``_fused_adam``): the same kernel writing into
the parameter and state buffers.

Conventions shared by the four ops:

* **inputs**: the parameter, its gradient, the state arrays in a fixed order (an absent
  optional state, such as Adam's ``max_exp_avg_sq`` without amsgrad or a momentum
  buffer with ``momentum=0``, is ``None``), then the hyper-parameters that may change
  between steps (numbers eagerly, 0-d runtime values in a compiled step: ``lr``, betas,
  ``eps``, weight decay, the step's bias corrections or learning rate);
* **attributes**: the static choices (``maximize``, ``nesterov``, ``amsgrad``,
  ``centered``, ``variant``, whether a momentum buffer exists, ``first`` for SGD's first
  momentum step);
* **outputs**: the new parameter and the new values of the present states, in input
  order;
* **the scalar formula** always takes and returns every state slot: the kernel passes an
  absent state as an alias of a present array of the same shape (documented on each
  formula) and the formula returns that array's new value in its place, so the two
  stores write the same value to the same element.

Backends: with numba (``yingshe.backend.jit.resolve_backend() == "numba"``) the update is
one pass over memory, computed in the parameter's dtype: the kernel is built with
``elementwise_kernel(..., dtype=)``, which types the formula's constants and the
hyper-parameters as float32 for float32 parameters (numba would compute Python-float
constants in float64, converting each element both ways: 2.6x slower measured), so the
kernel does NumPy's float32 arithmetic in one pass and agrees with the NumPy passes to
float32 round-off per step, within DESIGN's graph-vs-eager tolerance.
Without numba, a NumPy sequence of ``out=`` ufunc calls into per-thread scratch buffers
(the fewest passes NumPy allows: 12 for Adam against 13 for the op-by-op form). The
op-by-op maths of ``fused=False`` (``yingshe.optim._kernels``) stays the reference.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from yingshe.backend import jit
from yingshe.errors import DTypeError, ShapeError
from yingshe.ops._registry import register_op
from yingshe.ops._shapes import Meta, shape_str

__all__ = ["SgdUpdate", "AdamUpdate", "RmspropUpdate", "AdagradUpdate", "update_",
           "n_states"]


# ---- shared machinery -------------------------------------------------------------------

_local = threading.local()   # scratch buffers per thread (updates may run on a pool)
_MAX_SCRATCH = 64


def _buf(like: np.ndarray, slot: int) -> np.ndarray:
    """A scratch array shaped like ``like``, reused across steps (per thread)."""
    cache = getattr(_local, "scratch", None)
    if cache is None:
        cache = _local.scratch = {}
    key = (like.shape, like.dtype.str, slot)
    b = cache.get(key)
    if b is None:
        if len(cache) >= _MAX_SCRATCH:   # many shapes come and go: start over
            cache.clear()
        b = cache[key] = np.empty(like.shape, like.dtype)
    return b


def _float(x) -> float:
    """A hyper-parameter as a Python float (0-d arrays come from compiled steps)."""
    return float(x)


def _state_meta(opname, p, g, states, names):
    """Shape/dtype rule shared by the update ops: every array like the parameter."""
    for m, what in ((p, "param"), (g, "grad")) + tuple(zip(states, names)):
        if m is None:
            continue
        if not m.dtype.is_floating_point:
            raise DTypeError(f"{opname}: {what} must be floating point, got {m.dtype}")
        if m.dtype is not p.dtype:
            raise DTypeError(f"{opname}: {what} has dtype {m.dtype}, the parameter "
                             f"{p.dtype}")
        if len(m.shape) != len(p.shape) or any(a is not None and b is not None and a != b
                                               for a, b in zip(m.shape, p.shape)):
            raise ShapeError(f"{opname}: {what} of shape {shape_str(m.shape)} does not "
                             f"match the parameter's {shape_str(p.shape)}")
    out = Meta(tuple(p.shape), p.dtype)
    return (out,) * (1 + sum(s is not None for s in states))


class _Spec:
    """How to run one update op: its state names, which states alias which when absent,
    and its NumPy in-place implementation."""

    def __init__(self, states, alias, numpy_fn):
        self.states = states          # names, in input order
        self.alias = alias            # per state: index (in p, g, *states) of its stand-in
        self.numpy_fn = numpy_fn


_SPECS: dict[str, _Spec] = {}
_KERNELS: dict = {}


def _kernel(op, n_scalars: int, attrs: dict, dtype: str):
    key = (op.name, dtype, tuple(sorted(attrs.items())))
    k = _KERNELS.get(key)
    if k is None:
        n_arrays = 2 + len(_SPECS[op.name].states)
        k = _KERNELS[key] = jit.elementwise_kernel(
            op.scalar, (True,) * n_arrays + (False,) * n_scalars, n_arrays - 1, attrs=attrs,
            dtype=dtype)
    return k


def _arrays(spec, p, g, states):
    """(p, g, *states) with each absent state replaced by its stand-in."""
    full = [p, g, *states]
    for i, a in enumerate(spec.alias):
        if full[2 + i] is None:
            full[2 + i] = full[a]
    return full


_NAMES = {np.float32: "float32", np.float64: "float64"}


def _numba_ok(arrays, outs) -> bool:
    dt = arrays[0].dtype
    if dt not in (np.float32, np.float64):
        return False
    return (all(a.dtype == dt for a in arrays) and all(o.flags.c_contiguous for o in outs))


def _run(op, p, g, states, scalars, attrs, outs) -> None:
    """Write the update into ``outs`` (p and every state slot, absent ones aliased)."""
    spec = _SPECS[op.name]
    full = _arrays(spec, p, g, states)
    scalars = [_float(s) for s in scalars]
    if jit.resolve_backend() == "numba" and _numba_ok(full, outs):
        flat_in = [np.ascontiguousarray(a).reshape(-1) for a in full]
        flat_out = [o.reshape(-1) for o in outs]
        # dtype.name is a Python property in NumPy 2 (microseconds): map the type instead
        _kernel(op, len(scalars), attrs, _NAMES[p.dtype.type])(*flat_in, *scalars, *flat_out)
        return
    for src, dst in zip([full[0]] + full[2:], outs):
        if src is not dst:
            np.copyto(dst, src)
    g = full[1]
    spec.numpy_fn(outs[0], g, *outs[1:], *scalars, **attrs)


def _functional(op, xp, p, g, states, scalars, attrs):
    """The graph form: fresh arrays for the parameter and the present states."""
    spec = _SPECS[op.name]
    fresh = [xp.empty(p.shape, p.dtype)] + [xp.empty(p.shape, p.dtype) if s is not None
                                            else None for s in states]
    outs = list(fresh)
    for i, a in enumerate(spec.alias):   # an absent state writes into its stand-in's output
        if outs[1 + i] is None:
            outs[1 + i] = outs[0] if a == 0 else outs[a - 1]
    _run(op, p, g, states, scalars, attrs, outs)
    return tuple(o for o in fresh if o is not None)   # a tuple whatever the count


def update_(op, p, g, states, scalars, attrs) -> None:
    """The in-place form (eager ``step()``): update the arrays ``p`` and ``states``."""
    spec = _SPECS[op.name]
    outs = _arrays(spec, p, g, states)
    del outs[1]
    _run(op, p, g, states, scalars, attrs, outs)


def n_states(op) -> int:
    return len(_SPECS[op.name].states)


def _grad(p, g, maximize, weight_decay, a, b):
    """The gradient after ``maximize`` and (coupled) weight decay, in scratch ``a``."""
    if maximize:
        g = np.negative(g, out=a)
    if weight_decay != 0:
        t = np.multiply(p, weight_decay, out=b)
        g = np.add(g, t, out=a)
    return g


# ---- SGD ----------------------------------------------------------------------------------

def _sgd_numpy(p, g, buf, lr, momentum, dampening, weight_decay, *, nesterov, maximize,
               variant, buffered, first):
    a, b = _buf(p, 0), _buf(p, 1)
    g = _grad(p, g, maximize, weight_decay, a, b)
    if not buffered:
        p += np.multiply(g, -lr, out=b)
        return
    if variant == "keras":
        buf *= momentum
        t = np.multiply(g, -lr, out=b)
        buf += t
        if nesterov:
            p += np.multiply(buf, momentum, out=_buf(p, 2))
            p += t
        else:
            p += buf
        return
    if first:
        np.copyto(buf, g)
    else:
        buf *= momentum
        if dampening != 0:
            buf += np.multiply(g, 1 - dampening, out=b)
        else:
            buf += g
    if nesterov:
        t = np.multiply(buf, momentum, out=b)
        t += g
    else:
        t = buf
    p += np.multiply(t, -lr, out=b)


@register_op("sgd_update", saves="none", stateful=True, num_outputs=2)
class SgdUpdate:
    """One SGD step (PyTorch's ``torch.optim.SGD``, or Keras' velocity form with
    ``variant="keras"``; see ``yingshe.optim.sgd``). Inputs ``(p, g, momentum_buffer,
    lr, momentum, dampening, weight_decay)``; ``buffered``: whether a momentum buffer
    exists (``momentum != 0``); ``first``: PyTorch's first momentum step (the buffer
    becomes the gradient). Outputs ``(p, momentum_buffer)``; without a buffer the second
    output is the first (the graph machinery wants a fixed output count above one)."""

    def forward(xp, p, g, buf, lr, momentum, dampening, weight_decay, *, nesterov, maximize,
                variant, buffered, first):
        out = _functional(SgdUpdate, xp, p, g, (buf,), (lr, momentum, dampening,
                                                        weight_decay),
                          dict(nesterov=nesterov, maximize=maximize, variant=variant,
                               buffered=buffered, first=first))
        return out if len(out) == 2 else (out[0], out[0])

    def infer(p, g, buf, lr, momentum, dampening, weight_decay, *, nesterov, maximize,
              variant, buffered, first):
        out = _state_meta("sgd_update", p, g, (buf,), ("momentum_buffer",))
        return out if len(out) == 2 else out * 2

    @staticmethod
    def scalar(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize,
               variant, buffered, first):
        # without a buffer, ``buf`` is the parameter and the new parameter is returned twice
        if maximize:
            g = -g
        if weight_decay != 0.0:
            g = g + weight_decay * p
        if not buffered:
            p = p - lr * g
            return p, p
        if variant == "keras":
            buf = buf * momentum - lr * g
            if nesterov:
                p = p + momentum * buf - lr * g
            else:
                p = p + buf
            return p, buf
        if first:
            buf = g
        else:
            buf = buf * momentum + (1.0 - dampening) * g
        if nesterov:
            g = g + momentum * buf
        else:
            g = buf
        return p - lr * g, buf


_SPECS["sgd_update"] = _Spec(("momentum_buffer",), (0,), _sgd_numpy)


# ---- Adam / AdamW -------------------------------------------------------------------------

def _adam_numpy(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, bias_correction1,
                bias_correction2, *, amsgrad, maximize, decoupled_weight_decay, variant):
    a, b = _buf(p, 0), _buf(p, 1)
    if decoupled_weight_decay:
        g = np.negative(g, out=a) if maximize else g
        if weight_decay != 0:
            p *= 1 - lr * weight_decay
    else:
        g = _grad(p, g, maximize, weight_decay, a, b)
    m += np.multiply(np.subtract(g, m, out=b), 1 - beta1, out=b)      # lerp(m, g, 1 - beta1)
    v *= beta2
    v += np.multiply(np.multiply(g, g, out=b), 1 - beta2, out=b)
    if amsgrad:
        np.maximum(vmax, v, out=vmax)
    d = np.sqrt(vmax, out=b)
    root = math.sqrt(bias_correction2)
    if variant == "torch":
        # sqrt(v) / root + eps == (sqrt(v) + eps root) / root: one pass fewer
        d += eps * root
    else:
        d += eps
    step = lr * root / bias_correction1
    np.divide(m, d, out=d)
    d *= -step
    p += d


@register_op("adam_update", saves="none", stateful=True,
             num_outputs=lambda **a: 4 if a["amsgrad"] else 3)
class AdamUpdate:
    """One Adam/AdamW step (PyTorch's forms, or TensorFlow's "epsilon hat" with
    ``variant="tf"``; see ``yingshe.optim.adam``). Inputs ``(p, g, exp_avg, exp_avg_sq,
    max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay, bias_correction1,
    bias_correction2)`` (the corrections ``1 - beta^t`` of this step);
    ``max_exp_avg_sq`` is None without amsgrad. Outputs ``(p, exp_avg, exp_avg_sq,
    [max_exp_avg_sq])``."""

    def forward(xp, p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, bias_correction1,
                bias_correction2, *, amsgrad, maximize, decoupled_weight_decay, variant):
        return _functional(AdamUpdate, xp, p, g, (m, v, vmax),
                           (lr, beta1, beta2, eps, weight_decay, bias_correction1,
                            bias_correction2),
                           dict(amsgrad=amsgrad, maximize=maximize,
                                decoupled_weight_decay=decoupled_weight_decay,
                                variant=variant))

    def infer(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, bias_correction1,
              bias_correction2, *, amsgrad, maximize, decoupled_weight_decay, variant):
        return _state_meta("adam_update", p, g, (m, v, vmax),
                           ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"))

    @staticmethod
    def scalar(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, bias_correction1,
               bias_correction2, amsgrad, maximize, decoupled_weight_decay, variant):
        # without amsgrad, ``vmax`` is ``v`` and the new ``v`` is returned in its place
        if maximize:
            g = -g
        if weight_decay != 0.0:
            if decoupled_weight_decay:
                p = p * (1.0 - lr * weight_decay)
            else:
                g = g + weight_decay * p
        m = m + (g - m) * (1.0 - beta1)
        v = v * beta2 + g * g * (1.0 - beta2)
        if amsgrad:
            # NaN propagates as in np.maximum
            vmax = v if (v > vmax or v != v) else vmax
        else:
            vmax = v
        if variant == "torch":
            denom = math.sqrt(vmax) / math.sqrt(bias_correction2) + eps
            p = p - lr / bias_correction1 * (m / denom)
        else:
            denom = math.sqrt(vmax) + eps
            p = p - lr * math.sqrt(bias_correction2) / bias_correction1 * (m / denom)
        return p, m, v, vmax


_SPECS["adam_update"] = _Spec(("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), (None, None, 3),
                              _adam_numpy)


# ---- RMSprop --------------------------------------------------------------------------------

def _rmsprop_numpy(p, g, sq, ga, buf, lr, alpha, eps, weight_decay, momentum, *, centered,
                   maximize, variant, buffered):
    a, b, c = _buf(p, 0), _buf(p, 1), _buf(p, 2)
    g = _grad(p, g, maximize, weight_decay, a, b)
    sq *= alpha
    sq += np.multiply(np.multiply(g, g, out=b), 1 - alpha, out=b)
    if centered:
        ga += np.multiply(np.subtract(g, ga, out=b), 1 - alpha, out=b)
        avg = np.subtract(sq, np.multiply(ga, ga, out=b), out=b)
    else:
        avg = sq
    if variant == "torch":
        avg = np.sqrt(avg, out=b)
        avg += eps
    else:
        avg = np.add(avg, eps, out=b)
        np.sqrt(avg, out=avg)
    t = np.divide(g, avg, out=c)
    if buffered:
        buf *= momentum
        if variant == "torch":
            buf += t
            p += np.multiply(buf, -lr, out=c)
        else:
            t *= lr
            buf += t
            p -= buf
    else:
        t *= -lr
        p += t


@register_op("rmsprop_update", saves="none", stateful=True,
             num_outputs=lambda **a: 2 + bool(a["centered"]) + bool(a["buffered"]))
class RmspropUpdate:
    """One RMSprop step (PyTorch's form, or TensorFlow's with ``variant="tf1"``/
    ``"keras"``: eps inside the root, the learning rate inside the momentum buffer; see
    ``yingshe.optim.rmsprop``). Inputs ``(p, g, square_avg, grad_avg, momentum_buffer,
    lr, alpha, eps, weight_decay, momentum)``; ``grad_avg`` is None unless centered,
    ``momentum_buffer`` None unless ``buffered``. Outputs ``(p, square_avg, [grad_avg],
    [momentum_buffer])``."""

    def forward(xp, p, g, sq, ga, buf, lr, alpha, eps, weight_decay, momentum, *, centered,
                maximize, variant, buffered):
        return _functional(RmspropUpdate, xp, p, g, (sq, ga, buf),
                           (lr, alpha, eps, weight_decay, momentum),
                           dict(centered=centered, maximize=maximize, variant=variant,
                                buffered=buffered))

    def infer(p, g, sq, ga, buf, lr, alpha, eps, weight_decay, momentum, *, centered,
              maximize, variant, buffered):
        return _state_meta("rmsprop_update", p, g, (sq, ga, buf),
                           ("square_avg", "grad_avg", "momentum_buffer"))

    @staticmethod
    def scalar(p, g, sq, ga, buf, lr, alpha, eps, weight_decay, momentum, centered,
               maximize, variant, buffered):
        # not centered: ``ga`` is ``sq`` (the new ``sq`` is returned twice); no buffer:
        # ``buf`` is ``p`` (the new ``p`` is returned twice)
        if maximize:
            g = -g
        if weight_decay != 0.0:
            g = g + weight_decay * p
        sq = sq * alpha + g * g * (1.0 - alpha)
        if centered:
            ga = ga + (g - ga) * (1.0 - alpha)
            avg = sq - ga * ga
        else:
            ga = sq
            avg = sq
        if variant == "torch":
            avg = math.sqrt(avg) + eps
        else:
            avg = math.sqrt(avg + eps)
        if buffered:
            if variant == "torch":
                buf = buf * momentum + g / avg
                p = p - lr * buf
            else:
                buf = buf * momentum + lr * g / avg
                p = p - buf
        else:
            p = p - lr * (g / avg)
            buf = p
        return p, sq, ga, buf


_SPECS["rmsprop_update"] = _Spec(("square_avg", "grad_avg", "momentum_buffer"), (None, 2, 0),
                                 _rmsprop_numpy)


# ---- Adagrad --------------------------------------------------------------------------------

def _adagrad_numpy(p, g, s, clr, eps, weight_decay, *, maximize, variant):
    a, b = _buf(p, 0), _buf(p, 1)
    g = _grad(p, g, maximize, weight_decay, a, b)
    s += np.multiply(g, g, out=b)
    if variant == "torch":
        std = np.sqrt(s, out=b)
        std += eps
    else:
        std = np.add(s, eps, out=b)
        np.sqrt(std, out=std)
    np.divide(g, std, out=std)
    std *= -clr
    p += std


@register_op("adagrad_update", saves="none", stateful=True, num_outputs=lambda **a: 2)
class AdagradUpdate:
    """One Adagrad step (PyTorch's form, or TensorFlow's with eps inside the root,
    ``variant="tf"``; see ``yingshe.optim.adagrad``). Inputs ``(p, g, sum, clr, eps,
    weight_decay)``, ``clr`` the step's learning rate ``lr / (1 + (t - 1) lr_decay)``.
    Outputs ``(p, sum)``."""

    def forward(xp, p, g, s, clr, eps, weight_decay, *, maximize, variant):
        return _functional(AdagradUpdate, xp, p, g, (s,), (clr, eps, weight_decay),
                           dict(maximize=maximize, variant=variant))

    def infer(p, g, s, clr, eps, weight_decay, *, maximize, variant):
        return _state_meta("adagrad_update", p, g, (s,), ("sum",))

    @staticmethod
    def scalar(p, g, s, clr, eps, weight_decay, maximize, variant):
        if maximize:
            g = -g
        if weight_decay != 0.0:
            g = g + weight_decay * p
        s = s + g * g
        if variant == "torch":
            std = math.sqrt(s) + eps
        else:
            std = math.sqrt(s + eps)
        return p - clr * (g / std), s


_SPECS["adagrad_update"] = _Spec(("sum",), (None,), _adagrad_numpy)


# ---- the in-place form of compiled programs --------------------------------------------------

def _compiled_inplace(node, backend: str):
    """``run(outs, p, g, *states, *hyper) -> outputs`` for one update node of a compiled
    program (``yingshe.graph.schedule.INPLACE``): the update written into ``outs``, one
    destination per node output (the Variable's own buffer where the schedule found it
    safe, None for a fresh array), returning the node's outputs as ``forward`` would.
    The kernel and the slot layout are fixed when the program is generated: with the numba
    backend a call is the one-pass kernel on flat views, nothing else."""
    op = node.op
    spec = _SPECS[op.name]
    ns = len(spec.states)
    attrs = dict(node.attrs)
    present = [x is not None for x in node.inputs[2:2 + ns]]
    n_real = 1 + sum(present)          # the parameter and the present states
    n_out = len(node.metas)
    # per array slot of the kernel (p, every state; absent ones alias a present one):
    # the index of its destination among the real outputs, and of its input among
    # (p, g, *states)
    out_of, real = [0], 1
    for is_there in present:
        out_of.append(real if is_there else None)
        real += is_there
    in_of = [0, 1] + [2 + i for i in range(ns)]
    for i, a in enumerate(spec.alias):
        if not present[i]:
            out_of[1 + i] = out_of[0] if a == 0 else out_of[a - 1]
            in_of[2 + i] = a
    kernel = None
    dtype = _NAMES.get(node.metas[0].dtype.np.type)
    if backend == "numba" and dtype is not None and jit.available():
        kernel = _kernel(op, len(node.inputs) - 2 - ns, attrs, dtype)

    def run(outs, p, g, *rest):
        real = [np.empty(p.shape, p.dtype) if o is None else o for o in outs[:n_real]]
        full_out = [real[k] for k in out_of]
        if kernel is not None and all(o.flags.c_contiguous for o in real):
            arrays = (p, g) + rest[:ns]
            kernel(*[np.ascontiguousarray(arrays[k]).reshape(-1) for k in in_of],
                   *[float(s) for s in rest[ns:]], *[o.reshape(-1) for o in full_out])
        else:
            _run(op, p, g, rest[:ns], rest[ns:], attrs, full_out)
        return tuple(real) + (real[0],) * (n_out - n_real)
    return _unrolled_run(run, kernel, spec.numpy_fn, attrs, present,
                         len(node.inputs) - 2 - ns, n_real, n_out, out_of, in_of)


def _unrolled_run(general, kernel, numpy_fn, attrs, present, nh, n_real, n_out, out_of,
                  in_of):
    """``run`` of ``_compiled_inplace`` written out for this node's slot layout (no
    lists, comprehensions or unpacking: the generic closure cost 4.1 us per call around a
    0.75 us kernel on softmax's (10, 64) weight). With the numba kernel, a destination
    that is not C-contiguous takes the general path; without it (the NumPy backend), the
    parameter and present states are copied into their destinations where they are not
    already there and the NumPy form updates them in place, as ``_run`` does."""
    ns = len(present)
    args = ["outs", "p", "g"] + [f"s{i}" for i in range(ns)] + [f"h{i}" for i in range(nh)]
    ins = ["p", "g"] + [f"s{i}" for i in range(ns)]
    ln = [f"def run({', '.join(args)}):"]
    for k in range(n_real):
        ln += [f"    r{k} = outs[{k}]", f"    if r{k} is None:",
               f"        r{k} = empty(p.shape, p.dtype)"]
    hyper = [f"float(h{i})" for i in range(nh)]
    if kernel is not None:
        ln += ["    if not (" + " and ".join(f"r{k}.flags.c_contiguous"
                                          for k in range(n_real))
               + "):", f"        return general({', '.join(args)})"]
        call = [f"{ins[k]}.ravel()" for k in in_of] + hyper
        call += [f"r{k}.ravel()" for k in out_of]
        ln.append(f"    KERNEL({', '.join(call)})")
    else:
        ln += ["    if r0 is not p:", "        copyto(r0, p)"]
        for i, there in enumerate(present):
            if there:
                k = out_of[1 + i]
                ln += [f"    if r{k} is not s{i}:", f"        copyto(r{k}, s{i})"]
        call = ["r0", "g"] + [f"r{k}" for k in out_of[1:]] + hyper
        ln.append(f"    NUMPY_FN({', '.join(call)}, **ATTRS)")
    res = [f"r{k}" for k in range(n_real)] + ["r0"] * (n_out - n_real)
    ln.append(f"    return ({', '.join(res)},)")
    env = {"KERNEL": kernel, "general": general, "empty": np.empty, "copyto": np.copyto,
           "NUMPY_FN": numpy_fn, "ATTRS": attrs}
    exec(compile("\n".join(ln) + "\n", "<yingshe fused update>", "exec"), env)  # noqa: S102
    return env["run"]


def _register_inplace() -> None:
    from yingshe.graph.schedule import register_inplace
    for name in _SPECS:
        register_inplace(name, _compiled_inplace)


_register_inplace()
