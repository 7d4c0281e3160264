"""The one model registry: every consumer finds models here and nowhere else.

``register`` (a class decorator) checks a model class's metadata and makes it known under its
``name`` and ``aliases``; ``model_names()`` lists the registered names and ``get_model(name,
**params)`` builds one. Names are matched ignoring case, ``-``, ``_`` and spaces, so
``"TC-LIF"``, ``"tc_lif"`` and ``"tclif"`` are the same name. A model registered in a user's own
file is seen by simulate, derive, inspect, verify, flow, the layers, the backwards, the
experiments and the figures alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

from .base import NeuronModel

__all__ = [
    "register",
    "unregister",
    "registered",
    "model_names",
    "model_class",
    "get_model",
    "normalise_name",
]

_CLASSES: dict[str, type[NeuronModel]] = {}  # canonical name -> class, in registration order
_LOOKUP: dict[str, str] = {}  # normalised name or alias -> canonical name


def normalise_name(name: Any) -> str:
    """The lookup key of a model name: lower case without ``-``, ``_`` or spaces."""
    if not isinstance(name, str):
        raise ValueError(f"a model name must be a string, got {name!r}")
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


def _check_metadata(cls: type[NeuronModel]) -> None:
    """Refuse a class whose metadata is incomplete or inconsistent (the message says what)."""
    who = cls.__name__
    if not (isinstance(cls, type) and issubclass(cls, NeuronModel)):
        raise ValueError(f"register: {cls!r} is not a NeuronModel subclass")
    if not cls.name or not isinstance(cls.name, str):
        raise ValueError(f"register: {who} has no registry name (class attribute 'name')")
    if not cls.state_names:
        raise ValueError(f"register: {who} declares no state_names")
    if "S" in cls.state_names:
        raise ValueError(f"register: {who}: 'S' is the spike, not a state name")
    if cls.threshold_state not in cls.state_names:
        raise ValueError(
            f"register: {who}: threshold_state {cls.threshold_state!r} is not one of its "
            f"state_names {list(cls.state_names)}"
        )
    init = {f.name for f in fields(cls) if f.init}
    missing = [n for n in cls.param_names if n not in cls.param_specs]
    if missing:
        raise ValueError(f"register: {who}: parameters without a range in param_specs: {missing}")
    unknown = [n for n in cls.verify_params if n not in init]
    if unknown:
        raise ValueError(f"register: {who}: verify_params names unknown parameters {unknown}")
    for pname, spec in cls.trainable.items():
        if pname not in cls.param_specs:
            raise ValueError(f"register: {who}: trainable parameter {pname!r} has no param_spec")
        if spec.raw in init and spec.raw != pname:
            raise ValueError(
                f"register: {who}: raw name {spec.raw!r} of {pname!r} clashes with a field"
            )
    own = cls.__dict__.get("verify_stream")  # a class's own stream; subclasses get their own
    if own is not None:
        taken = [
            c.__name__
            for c in _CLASSES.values()
            if c is not cls and c.__dict__.get("verify_stream") == own
        ]
        if taken:
            raise ValueError(f"register: {who}: verify_stream {own} is taken by {taken[0]}")
    mean, std = cls.input_stats
    if not (std > 0):
        raise ValueError(f"register: {who}: input_stats must be (mean, std > 0)")
    for method in ("coefficients", "step", "spike_argument"):
        if getattr(cls, method) is getattr(NeuronModel, method):
            raise ValueError(f"register: {who} does not define {method}()")
    cls(**cls.verify_params)  # the verification parameters must build a valid model


def register(cls: type[NeuronModel]) -> type[NeuronModel]:
    """Class decorator: check ``cls``'s metadata and register it under ``cls.name`` and its
    ``aliases``. A name already taken by another class is a ValueError."""
    _check_metadata(cls)
    keys = [normalise_name(cls.name), *(normalise_name(a) for a in cls.aliases)]
    for key in keys:
        owner = _LOOKUP.get(key)
        if owner is not None and _CLASSES[owner] is not cls:
            raise ValueError(
                f"register: the name {key!r} of {cls.__name__} is taken by "
                f"{_CLASSES[owner].__name__}"
            )
    _CLASSES[cls.name] = cls
    for key in keys:
        _LOOKUP[key] = cls.name
    return cls


def unregister(name: str) -> None:
    """Forget a registered model (by any of its names) and its aliases."""
    canonical = _canonical(name)
    del _CLASSES[canonical]
    for key in [k for k, v in _LOOKUP.items() if v == canonical]:
        del _LOOKUP[key]


@contextmanager
def registered(cls: type[NeuronModel]) -> Iterator[type[NeuronModel]]:
    """``with registered(MyNeuron):`` registers a class for the block only (tests, notebooks)."""
    register(cls)
    try:
        yield cls
    finally:
        unregister(cls.name)


def _canonical(name: Any) -> str:
    key = _LOOKUP.get(normalise_name(name))
    if key is None:
        raise ValueError(f"unknown model name {name!r}; choose one of {list(_CLASSES)}")
    return key


def model_names(group: str | None = None) -> tuple[str, ...]:
    """The registered model names in registration order (aliases not repeated); with
    ``group`` only the models of that group (``"paper"``, ``"catalogue"``, ...)."""
    return tuple(n for n, c in _CLASSES.items() if group is None or c.group == group)


def model_class(name: str | NeuronModel | type[NeuronModel]) -> type[NeuronModel]:
    """The class registered under ``name`` (any alias; a model or class is passed through)."""
    if isinstance(name, NeuronModel):
        return type(name)
    if isinstance(name, type) and issubclass(name, NeuronModel):
        return name
    return _CLASSES[_canonical(name)]


def get_model(name: str | NeuronModel, **params: Any) -> NeuronModel:
    """Build a model from its name (any alias, e.g. ``"TC-LIF"``) and keyword parameters; a
    model record is returned as it is (or with ``params`` replaced). Unknown names and unknown
    parameters are ValueErrors that list the allowed ones."""
    if isinstance(name, NeuronModel):
        return name.replace(**params) if params else name
    cls = model_class(name)
    allowed = {f.name for f in fields(cls) if f.init}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(
            f"{cls.__name__}: unknown parameter(s) {sorted(unknown)}; allowed {sorted(allowed)}"
        )
    return cls(**params)
