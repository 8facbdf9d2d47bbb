"""Op-table records for the fused optimizer updates (yingshe/optim/_fused.py).

Each record applies one update op (the functional form a graph node runs) to random
parameters, gradients and states; the NumPy references below are the update formulas
written out in float64, independently of the ops' NumPy and numba paths. The ops have
no gradient. Agreement with PyTorch over many steps is tested in tests/optim.
"""

import numpy as np

from yingshe.testing.op_db import OpCase, normal, positive


def _apply(name, *args, **attrs):
    from yingshe.ops import REGISTRY
    from yingshe.ops._registry import apply
    return apply(REGISTRY[name], *args, **attrs)


def _grad(p, g, maximize, wd):
    g = -g if maximize else g
    return g + wd * p


def sgd_ref(p, g, buf, lr, momentum, dampening, wd, *, nesterov, maximize, variant,
            first):
    g = _grad(p, g, maximize, wd)
    if buf is None:
        return p - lr * g, p - lr * g
    if variant == "keras":
        buf = momentum * buf - lr * g
        return (p + momentum * buf - lr * g if nesterov else p + buf), buf
    buf = g if first else momentum * buf + (1 - dampening) * g
    step = g + momentum * buf if nesterov else buf
    return p - lr * step, buf


def adam_ref(p, g, m, v, vmax, lr, b1, b2, eps, wd, bc1, bc2, *, maximize, decoupled,
             variant):
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * wd)
    else:
        g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    out_v = v if vmax is None else np.maximum(vmax, v)
    if variant == "torch":
        p = p - lr / bc1 * m / (np.sqrt(out_v) / np.sqrt(bc2) + eps)
    else:
        p = p - lr * np.sqrt(bc2) / bc1 * m / (np.sqrt(out_v) + eps)
    return (p, m, v) + (() if vmax is None else (out_v,))


def rmsprop_ref(p, g, sq, ga, buf, lr, alpha, eps, wd, momentum, *, maximize, variant):
    g = _grad(p, g, maximize, wd)
    sq = alpha * sq + (1 - alpha) * g * g
    avg = sq
    if ga is not None:
        ga = alpha * ga + (1 - alpha) * g
        avg = sq - ga * ga
    avg = np.sqrt(avg) + eps if variant == "torch" else np.sqrt(avg + eps)
    if buf is None:
        p = p - lr * g / avg
    elif variant == "torch":
        buf = momentum * buf + g / avg
        p = p - lr * buf
    else:
        buf = momentum * buf + lr * g / avg
        p = p - buf
    return (p, sq) + (() if ga is None else (ga,)) + (() if buf is None else (buf,))


def adagrad_ref(p, g, s, clr, eps, wd, *, maximize, variant):
    g = _grad(p, g, maximize, wd)
    s = s + g * g
    std = np.sqrt(s) + eps if variant == "torch" else np.sqrt(s + eps)
    return p - clr * g / std, s


def _states(shape, n, square=()):
    """A maker of (p, g, *n states); the states listed in ``square`` are non-negative
    (second moments), the others normal."""
    def make(rng):
        arrays = [normal(*shape)(rng), normal(*shape)(rng)]
        for i in range(n):
            arrays.append(positive(*shape, low=0.0, high=2.0)(rng) if i in square
                          else normal(*shape)(rng))
        return arrays
    return make


_NO_GRAD = dict(grad=(), fd=False, second_order=False, torch=False)

CASES = []

for _variant, _nest, _max, _first in (("torch", False, False, False),
                                      ("torch", True, True, False),
                                      ("torch", False, False, True),
                                      ("keras", True, False, False),
                                      ("keras", False, True, False)):
    _kw = dict(nesterov=_nest, maximize=_max, variant=_variant, first=_first)
    CASES.append(OpCase(
        "sgd_update",
        lambda m, p, g, b, kw=_kw: _apply("sgd_update", p, g, b, 0.1, 0.9,
                                          0.0 if kw["nesterov"] else 0.25, 0.01,
                                          buffered=True, **kw),
        _states((3, 4), 1),
        lambda p, g, b, kw=_kw: sgd_ref(p, g, b, 0.1, 0.9, 0.0 if kw["nesterov"] else 0.25,
                                        0.01, **kw),
        name=f"{_variant}-nesterov{int(_nest)}-max{int(_max)}-first{int(_first)}",
        **_NO_GRAD))
CASES.append(OpCase(
    "sgd_update",
    lambda m, p, g: _apply("sgd_update", p, g, None, 0.1, 0.0, 0.0, 0.05, nesterov=False,
                           maximize=False, variant="torch", buffered=False, first=False),
    _states((5,), 0),
    lambda p, g: sgd_ref(p, g, None, 0.1, 0.0, 0.0, 0.05, nesterov=False, maximize=False,
                         variant="torch", first=False),
    name="plain", **_NO_GRAD))

for _variant in ("torch", "tf"):
    for _ams, _max, _dec, _wd in ((False, False, False, 0.0), (True, True, False, 0.1),
                                  (True, False, True, 0.1), (False, True, True, 0.0)):
        _kw = dict(maximize=_max, decoupled_weight_decay=_dec, variant=_variant)
        _sc = (0.01, 0.9, 0.999, 1e-8, _wd, 1 - 0.9 ** 3, 1 - 0.999 ** 3)
        if _ams:
            CASES.append(OpCase(
                "adam_update",
                lambda m, p, g, a, b, c, kw=_kw, sc=_sc: _apply("adam_update", p, g, a, b, c,
                                                               *sc, amsgrad=True, **kw),
                _states((2, 3, 2), 3, square=(1, 2)),
                lambda p, g, a, b, c, kw=_kw, sc=_sc: adam_ref(
                    p, g, a, b, c, *sc, maximize=kw["maximize"],
                    decoupled=kw["decoupled_weight_decay"], variant=kw["variant"]),
                name=f"{_variant}-amsgrad-max{int(_max)}-dec{int(_dec)}", **_NO_GRAD))
        else:
            CASES.append(OpCase(
                "adam_update",
                lambda m, p, g, a, b, kw=_kw, sc=_sc: _apply("adam_update", p, g, a, b, None,
                                                            *sc, amsgrad=False, **kw),
                _states((4, 3), 2, square=(1,)),
                lambda p, g, a, b, kw=_kw, sc=_sc: adam_ref(
                    p, g, a, b, None, *sc, maximize=kw["maximize"],
                    decoupled=kw["decoupled_weight_decay"], variant=kw["variant"]),
                name=f"{_variant}-max{int(_max)}-dec{int(_dec)}", **_NO_GRAD))

for _variant in ("torch", "tf1"):
    for _cen, _buf, _max in ((False, False, False), (True, False, True), (False, True, False),
                             (True, True, True)):
        _kw = dict(centered=_cen, maximize=_max, variant=_variant, buffered=_buf)

        def _call(m, p, g, sq, ga, buf, kw=_kw):
            return _apply("rmsprop_update", p, g, sq, ga if kw["centered"] else None,
                          buf if kw["buffered"] else None, 0.01, 0.9, 1e-4, 0.02, 0.5, **kw)

        def _ins(rng, base=_states((3, 5), 3, square=(0,))):
            p, g, sq, ga, buf = base(rng)
            return [p, g, sq + 1.0, ga * 0.1, buf]

        CASES.append(OpCase(
            "rmsprop_update", _call, _ins,
            lambda p, g, sq, ga, buf, kw=_kw: rmsprop_ref(
                p, g, sq, ga if kw["centered"] else None, buf if kw["buffered"] else None,
                0.01, 0.9, 1e-4, 0.02, 0.5, maximize=kw["maximize"], variant=kw["variant"]),
            name=f"{_variant}-centered{int(_cen)}-buf{int(_buf)}-max{int(_max)}",
            **_NO_GRAD))

for _variant, _max in (("torch", False), ("tf", True)):
    _kw = dict(maximize=_max, variant=_variant)
    CASES.append(OpCase(
        "adagrad_update",
        lambda m, p, g, s, kw=_kw: _apply("adagrad_update", p, g, s, 0.05, 1e-6, 0.01, **kw),
        _states((6,), 1, square=(0,)),
        lambda p, g, s, kw=_kw: adagrad_ref(p, g, s, 0.05, 1e-6, 0.01, **kw),
        name=_variant, **_NO_GRAD))
