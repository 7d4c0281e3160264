"""How far each online rule's gradient is from BPTT's, and what each costs.

``agreement(grads, ref)``: the relative error ||g - g_ref|| / ||g_ref|| and the cosine
g . g_ref / (||g|| ||g_ref||) over every trainable tensor together and per tensor.
``compare(...)``: run BPTT and the chosen rules on one layer, one input and one loss, and report
per rule that agreement, ``memory_bytes`` and ``seconds``. ``SETTINGS`` and ``exactness_rows``:
the settings in which a rule is owed BPTT's gradient, and the check of each, for every registered
model and switch set.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from lstmlif.neurons import model_class, model_names

from .bptt import bptt
from .core import LinearLoss, Loss, OnlineLayer, ReadoutLoss, make_inputs, make_layer
from .rules import RULES, RuleResult, run_rule

__all__ = [
    "agreement",
    "compare",
    "SETTINGS",
    "switch_sets",
    "exactness_case",
    "exactness_rows",
    "RULE_NAMES",
    "influence_bytes",
]

RULE_NAMES = ("bptt", *RULES, "eprop_random")
"""Every rule name ``compare`` takes; ``eprop_random`` is e-prop with random feedback."""


def _flat(grads: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    return np.concatenate([np.ravel(grads[n]) for n in names]) if names else np.zeros(0)


def _pair(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    nb = float(np.linalg.norm(b))
    na = float(np.linalg.norm(a))
    rel = float(np.linalg.norm(a - b)) / nb if nb > 0 else (0.0 if na == 0 else float("inf"))
    cos = float(a @ b) / (na * nb) if na > 0 and nb > 0 else float("nan")
    return {"relative_error": rel, "cosine": cos}


def agreement(grads: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, Any]:
    """{"relative_error", "cosine", "per_tensor": {name: {...}}} of ``grads`` against
    ``ref`` (the same tensor names); a tensor whose reference is 0 has relative error 0 when it
    is 0 too, else inf, and a NaN cosine."""
    names = list(ref)
    if set(grads) != set(names):
        raise ValueError(f"online: tensors {sorted(grads)} and {sorted(names)} differ")
    out: dict[str, Any] = _pair(_flat(grads, names), _flat(ref, names))
    out["per_tensor"] = {n: _pair(np.ravel(grads[n]), np.ravel(ref[n])) for n in names}
    return out


def influence_bytes(layer: OnlineLayer, batch: int) -> int:
    """RTRL's influence tensor in bytes, B H n P float64 (P = H (K + m)), before running."""
    n = len(layer.model.state_names)
    return 8 * batch * layer.hidden * n * layer.n_params()


def _run(
    name: str, layer: OnlineLayer, u: np.ndarray, loss: Loss, dtype: Any, engine: str = "auto"
) -> RuleResult:
    if name == "bptt":
        return bptt(layer, u, loss)
    if name == "eprop_random":
        r = run_rule("eprop", layer, u, loss, feedback="random", dtype=dtype, engine=engine)
        return RuleResult(name, r.gradients, r.seconds, r.memory_bytes, r.spikes, r.engine)
    return run_rule(name, layer, u, loss, dtype=dtype, engine=engine)


def compare(
    layer: OnlineLayer,
    inputs: Any,
    loss: Loss,
    rules: tuple[str, ...] = ("rtrl", "ostl", "eprop", "ottt"),
    *,
    dtype: Any = np.float64,
    reference: RuleResult | None = None,
    engine: str = "auto",
) -> dict[str, Any]:
    """Run BPTT (float64, the reference) and ``rules`` on one problem: {"spikes",
    "rules": {rule: {"relative_error", "cosine", "per_tensor", "memory_bytes", "seconds",
    "engine"}}}; ``engine``: what runs the online rules' updates (``run_rule``'s)."""
    unknown = [r for r in rules if r not in RULE_NAMES]
    if unknown:
        raise ValueError(f"online: unknown rule(s) {unknown}; choose from {list(RULE_NAMES)}")
    ref = bptt(layer, inputs, loss) if reference is None else reference
    out: dict[str, Any] = {"spikes": ref.spikes, "rules": {}}
    for name in rules:
        res = ref if name == "bptt" else _run(name, layer, inputs, loss, dtype, engine)
        row = agreement(res.gradients, ref.gradients)
        row.update(memory_bytes=res.memory_bytes, seconds=res.seconds, engine=res.engine)
        out["rules"][name] = row
    return out


# ----------------------------------------------------------------------------- exactness

SETTINGS = {
    "rtrl": "recurrent",
    "ostl": "no recurrent weights, the model's own switches",
    "eprop": "no recurrent weights, BPTT with the reset detached",
    "ottt": "LIF only, feed-forward, subtract reset detached",
}
"""Where each rule owes BPTT's gradient (``exactness_case``)."""


def switch_sets(name: str) -> list[tuple[str, str, bool]]:
    """Every (convention, reset, detach_reset) the registered model ``name`` supports."""
    cls = model_class(name)
    return list(itertools.product(cls.conventions, cls.resets, cls.detach_options))


def exactness_case(
    name: str,
    rule: str,
    switches: tuple[str, str, bool],
    *,
    steps: int = 1000,
    hidden: int = 4,
    batch: int = 1,
    recurrent: bool | None = None,
    loss: str = "linear",
    seed: int = 0,
) -> dict[str, Any]:
    """One check: ``rule`` against BPTT for model ``name`` with ``switches``, in the setting
    where the rule is owed BPTT's gradient (``SETTINGS``; ``recurrent`` overrides the
    recurrence, which turns the owed settings of ``ostl`` / ``eprop`` into a check that they
    are *not* exact). Returns {"relative_error", "cosine", "spikes", "finite", "norm"}."""
    conv, reset, detach = switches
    rec = (rule == "rtrl") if recurrent is None else recurrent
    layer = make_layer(
        name,
        hidden,
        3,
        recurrent=rec,
        seed=seed,
        convention=conv,
        reset=reset,
        detach_reset=detach,
    )
    u = make_inputs(layer, steps, batch, seed=seed + 1)
    lo = (
        LinearLoss.random(layer, steps, batch, seed=seed + 2)
        if loss == "linear"
        else ReadoutLoss.random(layer, steps, batch, seed=seed + 2)
    )
    ref = bptt(
        layer,
        u,
        lo,
        detach_reset=True if rule == "eprop" and True in model_class(name).detach_options else None,
    )
    res = _run(rule, layer, u, lo, np.float64)
    g = _flat(res.gradients, list(ref.gradients))
    row = agreement(res.gradients, ref.gradients)
    return {
        "relative_error": row["relative_error"],
        "cosine": row["cosine"],
        "spikes": ref.spikes,
        "finite": bool(np.all(np.isfinite(g))),
        "norm": float(np.linalg.norm(g)),
    }


def exactness_rows(
    rules: tuple[str, ...] = ("rtrl", "ostl", "eprop"), steps: int = 1000, **kw: Any
) -> Iterator[dict[str, Any]]:
    """``exactness_case`` for every registered model, every switch set and ``rules``."""
    for name in model_names():
        for sw in switch_sets(name):
            for rule in rules:
                yield {
                    "model": name,
                    "switches": sw,
                    "rule": rule,
                    **exactness_case(name, rule, sw, steps=steps, **kw),
                }
