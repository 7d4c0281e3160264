"""The pre-registered comparison of the Lyapunov prediction and the independent-steps estimate
(``analysis.lyapunov_predict``) with the measurement (``analysis.lyapunov``).

``candidate_configurations`` lists the pool (every registered model, its switch sets and
surrogates, three input statistics); ``screen_configurations`` keeps the distinct ones whose
exponent depends on the input (duplicates found by ``dynamics_fingerprint``, not by names);
``register_configurations`` wrote ``analysis/data/lyapunov_prediction_configs.json``, committed
before any prediction or result was computed. ``prediction_table`` measures, estimates and
predicts each configuration; ``error_summary`` gives per model the median, 90th percentile and
maximum relative errors; the CSV is ``analysis/data/lyapunov_prediction_results.csv``.

``python -m lstmlif.analysis.lyapunov_table register|table|summary``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lstmlif.analysis.lyapunov import _numpy_model, estimate_spectra
from lstmlif.analysis.lyapunov_predict import (
    _forward,
    independent_steps,
    predict_top,
    transition_jacobians,
)
from lstmlif.neurons import NeuronModel, get_model, get_surrogate, model_class, model_names

__all__ = [
    "TABLE_SURROGATES",
    "CONFIG_FILE",
    "RESULTS_FILE",
    "RESULT_COLUMNS",
    "PROTOCOL",
    "candidate_configurations",
    "config_model",
    "dynamics_fingerprint",
    "screen_configurations",
    "register_configurations",
    "load_configurations",
    "prediction_table",
    "error_summary",
    "summary_markdown",
    "write_results",
    "read_results",
    "compute_results",
]

#: The surrogates the candidate configurations and the rate figure use (default shapes).
TABLE_SURROGATES = ("triangle", "fast_sigmoid", "sigmoid")

DATA = Path(__file__).resolve().parent / "data"
#: The pre-registered configurations (committed before the results were computed).
CONFIG_FILE = DATA / "lyapunov_prediction_configs.json"
#: The measured, independent-steps and predicted exponents of every configuration.
RESULTS_FILE = DATA / "lyapunov_prediction_results.csv"


# ----------------------------------------------------------------------------- configurations


def candidate_configurations(
    models: Sequence[str] | None = None,
    surrogates: Sequence[str] = TABLE_SURROGATES,
    scales: Sequence[tuple[float, float]] = ((1.0, 1.0), (0.5, 0.5), (1.5, 1.0)),
) -> list[dict[str, Any]]:
    """The pool ``screen_configurations`` draws the pre-registered set from: every registered
    model (or ``models``) at its ``verify_params`` with its ``input_stats`` (mean, std) scaled
    by each (mean factor, std factor) of ``scales``, (a) with every convention x reset x detach
    option it supports and its own surrogate, (b) with its default switches and each of
    ``surrogates``."""
    names = tuple(models) if models is not None else model_names()
    out: list[dict[str, Any]] = []
    for name in names:
        cls = model_class(name)
        base = cls(**cls.verify_params)
        own = base.surrogate.name
        switch_sets = [
            (c, r, bool(d), own) for c in cls.conventions for r in cls.resets
            for d in cls.detach_options
        ]  # fmt: skip
        for sur in surrogates:
            get_surrogate(sur)
            switch_sets.append((base.convention, base.reset, bool(base.detach_reset), sur))
        mean, std = cls.input_stats
        for convention, reset, detach, surrogate in dict.fromkeys(switch_sets):
            for fm, fs in scales:
                out.append(
                    dict(
                        model=cls.name,
                        params=dict(cls.verify_params),
                        convention=convention,
                        reset=reset,
                        detach_reset=detach,
                        surrogate=surrogate,
                        input_mean=float(mean) * fm,
                        input_std=float(std) * fs,
                    )
                )
    return out


def config_model(config: dict[str, Any]) -> NeuronModel:
    """The model of one configuration record."""
    switches = {k: config[k] for k in ("convention", "reset", "surrogate") if k in config}
    return get_model(
        config["model"],
        **config.get("params", {}),
        **switches,
        detach_reset=bool(config["detach_reset"]),
    )


def dynamics_fingerprint(model: NeuronModel, probes: int = 64, seed: int = 7) -> str:
    """A digest of the forward map and the spike-aware Jacobian at fixed random probe points
    (states ~ N(0, 2^2), inputs ~ N(0.5, 2^2)), rounded to 32 bits of mantissa: two models
    with the same dynamics (whatever their names) share it."""
    model = _numpy_model(model, "dynamics_fingerprint")
    n = len(model.state_names)
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 2.0, (probes, n))
    current = rng.normal(0.5, 2.0, probes)
    Y = _forward(model, X, current)
    J, _, _ = transition_jacobians(model, [X[:, a] for a in range(n)], current)
    values = np.concatenate([[n], Y.ravel(), J.ravel()])
    mantissa, exponent = np.frexp(np.where(np.isfinite(values), values, 0.0))
    rounded = np.ldexp(np.round(mantissa * 2.0**32), exponent)  # about 10 significant digits
    flags = np.where(np.isfinite(values), 0.0, np.nan_to_num(values, posinf=1.0, neginf=-1.0))
    return hashlib.sha256(rounded.tobytes() + flags.tobytes()).hexdigest()[:16]


def _jacobian_constant(model: NeuronModel, probes: int = 256, seed: int = 8) -> bool:
    n = len(model.state_names)
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 2.0, (probes, n))
    J, _, _ = transition_jacobians(model, [X[:, a] for a in range(n)], rng.normal(0.5, 2.0, probes))
    return bool(np.all(J == J[:1]))


def screen_configurations(
    candidates: Sequence[dict[str, Any]],
    pilot_steps: int = 400,
    pilot_seeds: Sequence[int] = (900, 901),
    pilot_batch: int = 8,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Keep the distinct configurations whose exponent depends on the input.

    Dropped, in this order: (1) a duplicate (same ``dynamics_fingerprint`` and input statistics
    as one kept before; e.g. NIR LI = NIR LIF); (2) a Jacobian that is the same at every probe
    point (the exponent cannot depend on the input); (3) a pilot *measurement* (seeds
    ``pilot_seeds``, never used for the results) that is not finite (-inf: an exactly zero
    product) or equal, to 1e-9 relative, at the configuration's input and at a second input
    (mean + std, std x 1.5). No prediction is computed. Returns (kept, counts dropped by rule).
    """
    kept, seen = [], set()
    dropped = {"duplicate": 0, "constant_jacobian": 0, "not_finite": 0, "input_independent": 0}
    for config in candidates:
        model = config_model(config)
        key = (dynamics_fingerprint(model), config["input_mean"], config["input_std"])
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        if _jacobian_constant(model):
            dropped["constant_jacobian"] += 1
            continue
        mean, std = config["input_mean"], config["input_std"]
        tops = []
        for m, s in ((mean, std), (mean + std, 1.5 * std)):
            try:
                est = estimate_spectra(
                    [model], m, s, pilot_steps, pilot_seeds, pilot_batch, 50, 50, k=1
                )[0]
                tops.append(est.top)
            except ValueError:
                tops.append(math.nan)
        if not all(math.isfinite(t) for t in tops):
            dropped["not_finite"] += 1
            continue
        if abs(tops[0] - tops[1]) <= 1e-9 * max(abs(tops[0]), 1e-12):
            dropped["input_independent"] += 1
            continue
        kept.append(config)
    return kept, dropped


def load_configurations(path: str | Path | None = None) -> dict[str, Any]:
    """The pre-registered configuration file (default ``CONFIG_FILE``): its protocol and its
    ``configurations`` list."""
    path = Path(CONFIG_FILE if path is None else path)
    if not path.is_file():
        raise ValueError(f"configuration file {path} not found")
    with open(path) as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or not isinstance(data.get("configurations"), list):
        raise ValueError(f"{path}: expected an object with a 'configurations' list")
    return data


# ----------------------------------------------------------------------------- the table


RESULT_COLUMNS = (
    "id",
    "model",
    "states",
    "convention",
    "reset",
    "detach_reset",
    "surrogate",
    "input_mean",
    "input_std",
    "rate",
    "in_window",
    "measured",
    "measured_ci95",
    "independent",
    "independent_ci95",
    "correlation_gap",
    "predicted",
    "predicted_ci95",
    "prediction_method",
    "prediction_reason",
    "rel_error_predicted",
    "rel_error_independent",
    "seconds_predicted",
)


def _rel(value: float, ref: float) -> float:
    if not (math.isfinite(value) and math.isfinite(ref)) or ref == 0:
        return math.nan
    return abs(value - ref) / abs(ref)


def prediction_table(
    configs: Sequence[dict[str, Any]],
    steps: int = 2000,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    batch: int = 16,
    samples: int = 4000,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Measured, independent-steps and predicted top exponents, one row per configuration.

    measured: ``estimate_spectra`` (``steps`` counted steps x ``batch`` neurons per seed; mean and
    95% Student-t half-width over ``seeds``); independent: ``independent_steps``; predicted:
    ``predict_top`` (None with the reason where not applicable; a finite-time value where a step
    can zero J). Relative errors are |x - measured| / |measured|; correlation_gap = measured -
    independent. ``progress(i, row)`` is called after each row.
    """
    rows = []
    for i, config in enumerate(configs):
        model = config_model(config)
        mean, std = float(config["input_mean"]), float(config["input_std"])
        est = estimate_spectra([model], mean, std, steps, seeds, batch, k=1)[0]
        ind = independent_steps(model, mean, std, samples=samples)
        start = time.perf_counter()
        pred = predict_top(model, mean, std)
        seconds = time.perf_counter() - start
        value = pred.finite_time() if pred.applicable else math.nan
        row = dict(
            id=config.get("id", i),
            model=config["model"],
            states=len(model.state_names),
            convention=model.convention,
            reset=model.reset,
            detach_reset=bool(model.detach_reset),
            surrogate=model.surrogate.name,
            input_mean=mean,
            input_std=std,
            rate=est.rate,
            in_window=est.in_window,
            measured=est.top,
            measured_ci95=float(est.ci95[0]),
            independent=ind.top,
            independent_ci95=ind.ci95,
            correlation_gap=est.top - ind.top,
            predicted=value if pred.applicable else None,
            predicted_ci95=pred.ci95 if pred.applicable else None,
            prediction_method=pred.method,
            prediction_reason=pred.reason,
            rel_error_predicted=_rel(value, est.top) if pred.applicable else None,
            rel_error_independent=_rel(ind.top, est.top),
            seconds_predicted=seconds,
        )
        rows.append(row)
        if progress is not None:
            progress(i, row)
    return rows


def _stats(values: Sequence[float]) -> dict[str, float]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "median": math.nan, "p90": math.nan, "max": math.nan, "within_10": 0}
    return {
        "n": int(v.size),
        "median": float(np.median(v)),
        "p90": float(np.percentile(v, 90)),
        "max": float(v.max()),
        "within_10": int((v <= 0.10).sum()),
    }


def error_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model (in registry order) and overall ("all"): the number of rows, and for the
    prediction (where applicable) and the independent-steps estimate the count, median,
    90th percentile and maximum relative error and how many are within 10%."""
    order = [m for m in model_names() if any(r["model"] == m for r in rows)]
    out = []
    for name in [*order, "all"]:
        sel = [r for r in rows if name in ("all", r["model"])]
        out.append(
            dict(
                model=name,
                rows=len(sel),
                predicted=_stats([r["rel_error_predicted"] for r in sel]),
                independent=_stats([r["rel_error_independent"] for r in sel]),
                not_applicable=sum(1 for r in sel if r["predicted"] is None),
            )
        )
    return out


def write_results(rows: Sequence[dict[str, Any]], path: str | Path | None = None) -> Path:
    """Write the table as CSV (``RESULT_COLUMNS``; empty cells for None), atomically."""
    from lstmlif.fileio import atomic_write

    path = Path(RESULTS_FILE if path is None else path)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for r in rows:
        writer.writerow(["" if r[c] is None else r[c] for c in RESULT_COLUMNS])
    atomic_write(path, buf.getvalue())
    return path


def read_results(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The rows of a results CSV (numbers as floats, empty cells as None)."""
    path = Path(RESULTS_FILE if path is None else path)
    if not path.is_file():
        raise ValueError(f"results file {path} not found")
    text = {"model", "convention", "reset", "surrogate", "prediction_method", "prediction_reason"}
    rows = []
    with open(path, newline="") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for k, v in raw.items():
                if k in text:
                    row[k] = v
                elif k == "detach_reset":
                    row[k] = v == "True"
                elif k in ("id", "states"):
                    row[k] = int(v)
                else:
                    row[k] = None if v == "" else float(v)
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------- the files


#: The measurement protocol of the pre-registered table (written into the configuration file).
PROTOCOL: dict[str, Any] = {
    "steps": 2000,
    "seeds": [0, 1, 2, 3, 4],
    "batch": 16,
    "warmup": 100,
    "burn": 100,
    "independent_steps_samples": 4000,
    "independent_steps_chains": 8,
    "prediction_grid": {"one_state": 1200, "two_states": 100},
    "prediction_draws": 2000,
    "prediction_chains": 32,
}


def register_configurations(path: str | Path | None = None) -> dict[str, Any]:
    """Screen ``candidate_configurations()`` and write the kept ones, numbered, with the
    protocol and the screening counts, to ``path`` (default ``CONFIG_FILE``)."""
    from lstmlif.fileio import atomic_write

    candidates = candidate_configurations()
    kept, dropped = screen_configurations(candidates)
    data = {
        "description": (
            "Pre-registered configurations of the Lyapunov prediction table, written before "
            "any prediction or result was computed. Drawn from candidate_configurations() by "
            "screen_configurations(): duplicates (same forward map and Jacobian at probe "
            "points, same input), Jacobians constant over the state space, and pilot "
            "measurements (seeds 900, 901) that are -inf or do not change with the input "
            "are dropped."
        ),
        "protocol": PROTOCOL,
        "candidates": len(candidates),
        "dropped": dropped,
        "configurations": [{"id": i, **c} for i, c in enumerate(kept)],
    }
    path = Path(CONFIG_FILE if path is None else path)
    atomic_write(path, json.dumps(data, indent=1) + "\n")
    return data


def compute_results(
    config_path: str | Path | None = None, results_path: str | Path | None = None
) -> list[dict[str, Any]]:
    """Run ``prediction_table`` over the registered configurations with their protocol and
    write the CSV (default ``RESULTS_FILE``)."""
    data = load_configurations(config_path)
    proto = data["protocol"]

    def progress(i: int, row: dict[str, Any]) -> None:
        print(
            f"{i:4d} {row['model']:16s} measured {row['measured']:+.5f} "
            f"independent {row['independent']:+.5f} predicted {row['predicted']}",
            flush=True,
        )

    rows = prediction_table(
        data["configurations"],
        steps=proto["steps"],
        seeds=proto["seeds"],
        batch=proto["batch"],
        samples=proto["independent_steps_samples"],
        progress=progress,
    )
    write_results(rows, results_path)
    return rows


def summary_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """``error_summary`` as a Markdown table (relative errors in percent)."""
    from lstmlif.neurons import model_class

    def pc(value: float) -> str:
        value = 100 * value
        return f"{value:.0f}%" if value >= 10 else f"{value:.2g}%"

    def cells(st: dict[str, float]) -> str:
        if st["n"] == 0:
            return "0 | - | - | - | -"
        return (
            f"{st['n']} | {pc(st['median'])} | {pc(st['p90'])} | {pc(st['max'])} | "
            f"{st['within_10']}"
        )

    lines = [
        "| model | rows | predicted: n | median | p90 | max | within 10% "
        "| independent steps: n | median | p90 | max | within 10% |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in error_summary(rows):
        label = "all" if s["model"] == "all" else model_class(s["model"]).label
        lines.append(
            f"| {label} | {s['rows']} | {cells(s['predicted'])} | {cells(s['independent'])} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # python -m lstmlif.analysis.lyapunov_table register|table|summary
    import sys

    if sys.argv[1:] == ["register"]:
        info = register_configurations()
        print(len(info["configurations"]), "configurations;", "dropped", info["dropped"])
    elif sys.argv[1:] == ["table"]:
        compute_results()
    elif sys.argv[1:] == ["summary"]:
        print(summary_markdown(read_results()))
    else:
        print(
            "usage: python -m lstmlif.analysis.lyapunov_table register|table|summary",
            file=sys.stderr,
        )
        sys.exit(2)
