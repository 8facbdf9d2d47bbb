"""Re-export helper shared by the front-end modules (no maths: it copies references)."""

from __future__ import annotations


def reexport(namespace: dict, core_module, names) -> list[str]:
    """Bind ``core_module.<name>`` into ``namespace`` for each name the core provides;
    returns the names bound (missing ones are simply not supported yet)."""
    bound = []
    for name in names:
        try:
            obj = getattr(core_module, name)
        except AttributeError:
            continue
        namespace[name] = obj
        bound.append(name)
    return bound
