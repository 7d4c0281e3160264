"""The bias study: each configuration of ``bias_configs.json`` measured (``online.bias``) and
predicted (``online.predict``), and the file's hypotheses evaluated. ``python -m
lstmlif.online.study OUT.json [CONFIG.json]`` writes the rows and the verdicts (and, as it
goes, each row to ``OUT.json.rows.jsonl``); CONFIG.json defaults to ``bias_configs.json``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from .bias import build, configurations, load_configs, measure
from .predict import predicted_bias

__all__ = ["run_study", "verdicts"]


def run_study(spec: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """One row per configuration, rule and seed (yielded as computed): the measurement and the
    prediction."""
    spec = load_configs() if spec is None else spec
    rules = tuple(spec["rules"])
    for config in configurations(spec):
        for seed in spec["seeds"]:
            m = measure(config, rules, spec["hidden"], seed)
            layer, u, _ = build(config, spec["hidden"], seed)
            for r in rules:
                yield (
                    {
                        **config,
                        "seed": seed,
                        "rule": r,
                        "rate": m["rate"],
                        "relative_error": m[r]["relative_error"],
                        "cosine": m[r]["cosine"],
                        "predicted": predicted_bias(layer, u, r),
                    }
                )


def _key(row: dict[str, Any]) -> tuple:
    return tuple(
        row[k] for k in ("model", "recurrent_scale", "input_mean_factor", "steps", "surrogate")
    )


def verdicts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """H1 (Spearman of seed medians, per rule) and H2 / H3 (OSTL's error rising with G, for
    every group of configurations that differ in G alone)."""
    med: dict[tuple, dict[str, float]] = {}
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((*_key(row), row["rule"]), []).append(row)
    for key, rs in groups.items():
        med[key] = {
            k: float(np.median([r[k] for r in rs]))
            for k in ("relative_error", "cosine", "predicted", "rate")
        }
    out: dict[str, Any] = {"H1": {}, "H2": {}}
    for rule in sorted({k[-1] for k in med}):
        ks = [k for k in med if k[-1] == rule]
        rho = spearmanr([med[k]["predicted"] for k in ks], [med[k]["relative_error"] for k in ks])
        out["H1"][rule] = {
            "spearman": float(rho.statistic),
            "n": len(ks),
            "holds": bool(rho.statistic >= 0.6),
        }
    for key in {k[:1] + k[2:] for k in med if k[-1] == "ostl"}:
        model, f, T, sur, rule = key
        gs = sorted(k[1] for k in med if k[-1] == "ostl" and k[0] == model and k[2:] == key[1:])
        if len(gs) < 2:
            continue
        errs = [med[(model, g, f, T, sur, "ostl")]["relative_error"] for g in gs]
        out["H2"][f"{model} f={f}"] = {
            "G": gs,
            "relative_error": errs,
            "holds": bool(all(np.diff(errs) > 0)),
        }
    out["medians"] = [{"key": list(k), **v} for k, v in med.items()]
    return out


def main(argv: list[str]) -> int:
    import json

    from lstmlif.fileio import atomic_write, jsonable

    rows = []
    spec = load_configs(*argv[1:2])
    with open(argv[0] + ".rows.jsonl", "w", encoding="utf-8") as progress:
        for row in run_study(spec):
            rows.append(row)
            progress.write(json.dumps(jsonable(row)) + "\n")
            progress.flush()
    text = json.dumps(jsonable({"rows": rows, "verdicts": verdicts(rows)}), indent=1)
    atomic_write(argv[0], text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
