"""The bias of the approximate rules, measured: relative error and cosine against BPTT over
the configurations of ``bias_configs.json`` (committed before any result), with the firing
rate of each run. ``study`` adds the prediction of ``online.predict`` next to each measurement
and evaluates the file's hypotheses; the measurement itself (``measure``) never reads it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lstmlif.neurons import model_class, model_names

from .core import ReadoutLoss, make_inputs, make_layer
from .measure import compare

__all__ = ["CONFIG_FILE", "load_configs", "configurations", "build", "measure"]

CONFIG_FILE = Path(__file__).with_name("bias_configs.json")


def load_configs(path: str | Path = CONFIG_FILE) -> dict[str, Any]:
    """The study's file: seeds, hidden, rules, hypotheses, grid and extra grids."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def configurations(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every configuration of the grid and of the extra grids (no duplicates), in file order;
    ``"models": "registry"`` means every registered model (``model_names()``)."""
    seen = set()
    for grid in (spec["grid"], *spec.get("extra", [])):
        models = model_names() if grid["models"] == "registry" else grid["models"]
        for model, g, f, T, sur in itertools.product(
            models,
            grid["recurrent_scale"],
            grid["input_mean_factor"],
            grid["steps"],
            grid["surrogate"],
        ):
            key = (model, g, f, T, sur)
            if key in seen:
                continue
            seen.add(key)
            yield {
                "model": model,
                "recurrent_scale": g,
                "input_mean_factor": f,
                "steps": T,
                "surrogate": sur,
            }


def build(config: dict[str, Any], hidden: int, seed: int) -> tuple[Any, np.ndarray, Any]:
    """(layer, inputs, loss) of one configuration and seed."""
    cls = model_class(config["model"])
    switches = {} if config["surrogate"] is None else {"surrogate": config["surrogate"]}
    layer = make_layer(
        cls.name,
        hidden,
        3,
        recurrent_scale=config["recurrent_scale"],
        input_mean=config["input_mean_factor"] * cls.input_stats[0],
        seed=seed,
        **switches,
    )
    T = config["steps"]
    u = make_inputs(layer, T, 1, seed=seed + 1)
    return layer, u, ReadoutLoss.random(layer, T, 1, seed=seed + 2)


def measure(
    config: dict[str, Any], rules: tuple[str, ...], hidden: int, seed: int
) -> dict[str, Any]:
    """One run: {"rate" (spikes per neuron-step), rule: {"relative_error", "cosine"}}."""
    layer, u, loss = build(config, hidden, seed)
    res = compare(layer, u, loss, rules)
    out: dict[str, Any] = {"rate": res["spikes"] / (u.shape[0] * hidden)}
    for r in rules:
        out[r] = {k: res["rules"][r][k] for k in ("relative_error", "cosine")}
    return out
