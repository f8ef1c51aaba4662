"""Equality by construction: models and parameter specs built alike compare (and hash) equal.

JAX keeps one compiled program per value of a function's static arguments, and the model is one of
them. Objects that compared by identity would make ``jm.fit_many(jm.Logit(), data)`` compile its
fit again (seconds) every time it is called with a fresh ``jm.Logit()``. jaxmle's own models and
specs therefore compare by a frozen (hashable, immutable) description of what they were built
from; :func:`freeze` turns such arguments (arrays, dicts, lists, nested specs and models) into it.

Examples:
    >>> import numpy as np
    >>> freeze({"a": [1, 2], "b": np.zeros(2)}) == freeze({"a": [1, 2], "b": np.zeros(2)})
    True
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np


class _ByIdentity:
    """Stands in for an unhashable object: equal only to itself."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other) -> bool:
        return isinstance(other, _ByIdentity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def freeze(value):
    """A hashable value equal for equal inputs: arrays by dtype, shape and bytes; mappings (in
    their order, which names parameters in order) and sequences entry by entry; other hashable
    objects as they are; anything else by identity."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return value
    if isinstance(value, Mapping):
        return ("mapping", tuple((key, freeze(item)) for key, item in value.items()))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(freeze(item) for item in value))
    if hasattr(value, "__array__") and hasattr(value, "dtype"):  # numpy and JAX arrays, scalars
        array = np.asarray(value)
        return ("array", array.dtype.str, array.shape, array.tobytes())
    try:
        hash(value)
    except TypeError:
        return _ByIdentity(value)
    return value


def freeze_callable(fn, depth: int = 0):
    """A hashable value equal for functions built alike by a factory: the same code with equal
    defaults and equal closed-over values (frozen recursively, through ``functools.partial`` and
    tuples of functions such as an ``optax.GradientTransformation``).

    ``optax.lbfgs()`` returns new closures at every call; compared by identity, a transformation
    written inline (``solver=optax.lbfgs()``) would compile the fit again on every call. Nesting
    deeper than 16 levels falls back to identity.

    Examples:
        >>> import optax
        >>> freeze_callable(optax.adam(1e-2)) == freeze_callable(optax.adam(1e-2))
        True
        >>> freeze_callable(optax.adam(1e-2)) == freeze_callable(optax.adam(1e-3))
        False
    """
    if depth > 16:
        return _ByIdentity(fn)
    if isinstance(fn, functools.partial):
        return (
            "partial",
            freeze_callable(fn.func, depth + 1),
            tuple(freeze_callable(a, depth + 1) for a in fn.args),
            tuple((k, freeze_callable(v, depth + 1)) for k, v in sorted(fn.keywords.items())),
        )
    if isinstance(fn, tuple):
        return (type(fn).__name__, tuple(freeze_callable(item, depth + 1) for item in fn))
    code = getattr(fn, "__code__", None)
    if code is None:
        return freeze(fn)
    cells = []
    for cell in fn.__closure__ or ():
        try:
            cells.append(freeze_callable(cell.cell_contents, depth + 1))
        except ValueError:  # an empty cell
            cells.append(None)
    return (
        "function",
        code,
        freeze(fn.__defaults__),
        freeze(fn.__kwdefaults__),
        tuple(cells),
    )


class ValueIdentity:
    """Mixin: ``==`` and ``hash`` from :meth:`_identity`, for classes defined in jaxmle only.

    A user's subclass may keep state its constructor arguments do not show, so it falls back to
    Python's identity semantics.
    """

    def _identity(self):
        raise NotImplementedError

    def _attributes(self) -> dict:
        """The instance's attributes, without the identity cache."""
        return {k: v for k, v in self.__dict__.items() if k != _CACHE}

    def _state_refs(self) -> tuple:
        """The attributes whose replacement changes the identity (compared with ``is``)."""
        return ()

    def _frozen(self) -> tuple:
        """``(identity, hash)``, cached until one of :meth:`_state_refs` is replaced: JAX hashes a
        static argument on every call of a compiled function."""
        refs = self._state_refs()
        cache = self.__dict__.get(_CACHE)
        if cache is None or len(cache[0]) != len(refs) or any(map(_differ, cache[0], refs)):
            identity = self._identity()
            cache = (refs, identity, hash((type(self), identity)))
            self.__dict__[_CACHE] = cache
        return cache[1:]

    def __getstate__(self):
        # The cached hash is only valid in this process (Python salts string hashes per process),
        # so copies and pickles leave it behind.
        return self._attributes()

    def _by_value(self) -> bool:
        return type(self).__module__.split(".")[0] == "jaxmle"

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if type(other) is not type(self) or not self._by_value():
            return False
        return self._frozen() == other._frozen()

    def __hash__(self) -> int:
        if not self._by_value():
            return id(self)
        return self._frozen()[1]


#: Attribute holding :meth:`ValueIdentity._frozen`'s cache (never part of an identity).
_CACHE = "_frozen_identity"


def _differ(a, b) -> bool:
    return a is not b
