"""``tf.Module``: a named container whose Variables and submodules are found by walking
its attributes (TensorFlow's rule: attributes in sorted order, nested lists, tuples and
dicts flattened, dict keys sorted, each object reported once, submodules after the
module's own attributes)."""

from __future__ import annotations

import contextlib
import functools
import re

from yingshe.state import Variable as _StateVariable

__all__ = ["Module"]

_CAMEL_TO_SNAKE = re.compile(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))")
_VALID_IDENTIFIER = re.compile(r"^[a-zA-Z_]([a-zA-Z0-9_])*$")


def camel_to_snake(value: str) -> str:
    return _CAMEL_TO_SNAKE.sub(r"_\1", value).lower()


def _nest_flatten(x):
    """TensorFlow's ``nest.flatten`` order: dicts by sorted key, sequences in order."""
    if isinstance(x, dict):
        for k in sorted(x, key=lambda k: (str(type(k)), k) if not isinstance(k, str) else
                        ("", k)):
            yield from _nest_flatten(x[k])
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _nest_flatten(v)
    else:
        yield x


def flatten_module(module, recursive: bool, predicate, seen=None, stack=None):
    """Leaves of ``module`` (and of its submodules when ``recursive``) that satisfy
    ``predicate``, each once."""
    if seen is None:
        seen = {id(module)}
    if stack is None:
        stack = []
    if id(module) in stack:
        recursive = False
    subs = []
    attrs = vars(module)
    for key in sorted(attrs):
        for leaf in _nest_flatten(attrs[key]):
            if id(leaf) in seen:
                continue
            seen.add(id(leaf))
            if predicate(leaf):
                yield leaf
            if recursive and isinstance(leaf, Module):
                subs.append(leaf)
    stack.append(id(module))
    for sub in subs:
        yield from flatten_module(sub, recursive, predicate, seen, stack)
    stack.pop()


def _is_variable(x) -> bool:
    return isinstance(x, _StateVariable)


class _NameScope(contextlib.AbstractContextManager):
    """``module.name_scope``: yingshe.tf keeps no name scopes; entering it is a no-op."""

    def __init__(self, name: str) -> None:
        self.name = name + "/"

    def __exit__(self, *exc):
        return False


class Module:
    """``tf.Module(name=None)``.

    ``variables``/``trainable_variables``/``non_trainable_variables`` collect the
    ``tf.Variable`` objects held by this module's attributes (directly or in lists,
    tuples and dicts) and by its submodules; ``submodules`` lists the modules reachable
    from it."""

    def __init__(self, name=None):
        if name is None:
            name = camel_to_snake(type(self).__name__)
        elif not _VALID_IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a valid module name. Module names must be "
                             "valid Python identifiers (e.g. a valid class name).")
        self._name = name
        self._scope_name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def name_scope(self):
        return _NameScope(self._scope_name)

    @property
    def variables(self):
        return tuple(self._flatten(predicate=_is_variable))

    @property
    def trainable_variables(self):
        return tuple(self._flatten(predicate=lambda v: _is_variable(v) and v.trainable))

    @property
    def non_trainable_variables(self):
        return tuple(self._flatten(predicate=lambda v: _is_variable(v) and not v.trainable))

    @property
    def submodules(self):
        return tuple(self._flatten(predicate=lambda m: isinstance(m, Module)))

    def _flatten(self, recursive=True, predicate=None, **kwargs):
        if kwargs:
            raise NotImplementedError(f"tf.Module._flatten({', '.join(kwargs)}=...) is not "
                                      "supported by yingshe.tf")
        return list(flatten_module(self, recursive, predicate or (lambda _: True)))

    @classmethod
    def with_name_scope(cls, method):
        """Decorator (name scopes are not kept by yingshe.tf: returns the method)."""
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with self.name_scope:
                return method(self, *args, **kwargs)
        return wrapper

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} object at {hex(id(self))}>"
