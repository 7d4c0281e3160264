"""A registered model, or a network of the toolkit's layers, written as a NIR graph.

NIR has neuron nodes for LIF, CubaLIF, LI, CubaLI, IF and I, and weight nodes Affine and
Linear. ``model_to_nir_node`` writes one model record as such a node:

- the models of group "nir" (``nir_lif``, ``nir_cubalif``, ``nir_li``, ``nir_cubali``,
  ``nir_if``) as their own node type, their parameters as they are (per neuron);
- any other registered model whose sub-threshold update has one state and whose simulation is
  reproduced, spike for spike, by NIR's LIF discretised with the chosen scheme: as a LIF node
  with `tau = -dt / ln(a)` (exact) or `tau = dt / (1 - a)` (Euler-type schemes) and `r` from
  the input gain;
- every other model is refused, with the reason (for example LSTM-LIF: its two compartments
  feed each other, and NIR's two-state node, CubaLIF, has a current that feeds the membrane one
  way only).

NIR's reset sets v to v_reset; a model that subtracts the threshold is refused. A NIR file holds
the ODE; the library that imports it applies its own update (snntorch, spikingjelly: Euler
decays, the membrane reads the new current; norse's importer the same), so the exported node
reproduces the model's simulation where the model's ``discretization`` is that library's and its
``dt`` the importer's. The graph's metadata records the scheme and dt.

``export_nir(network, path)`` writes Input -> items -> Output, each item a model record with its
size, a ``ModelLayer`` or a ``torch.nn.Linear``; ``lstmlif export-nir MODEL --size N --out FILE``
is the command line.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lstmlif.fileio import check_writable
from lstmlif.neurons import get_model, model_names
from lstmlif.neurons.base import NeuronModel
from lstmlif.neurons.catalogue.nir_models import DISCRETIZATIONS, NirLIF
from lstmlif.neurons.ops import NUMPY_OPS
from lstmlif.neurons.simulate import simulate

from .stability import input_vector, parse_params, subthreshold_jacobian

__all__ = ["model_to_nir_node", "export_nir", "add_arguments", "run"]

_NIR_FIELDS = {"v_th": "v_threshold"}


def _per_neuron(value: Any, size: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 1:
        return np.full(size, float(arr.reshape(-1)[0]))
    if arr.size != size:
        raise ValueError(f"{what} has {arr.size} entries; the layer has {size} neurons")
    return arr.reshape(size).copy()


def _nir_group_node(model: NeuronModel, size: int) -> Any:
    import nir

    cls = type(model)
    kind = cls.nir_type
    fields: dict[str, np.ndarray] = {}
    for name in cls.param_names:
        value = getattr(model, name)
        if value is None:
            if name == "v_th" and getattr(cls, "nir_integrator_type", ""):
                kind = cls.nir_integrator_type
            continue
        fields[_NIR_FIELDS.get(name, name)] = _per_neuron(value, size, f"{cls.name}.{name}")
    if kind in ("LI", "CubaLI"):
        if getattr(model, "v_th", None) is not None:
            raise ValueError(
                f"{cls.name} with a threshold (v_th = {model.v_th}) has no NIR node: NIR's "
                f"{kind} never spikes; export nir_{kind.lower()}f instead"
            )
        fields.pop("v_reset", None)
    if kind == "I":
        fields = {"r": fields["r"]}
    return getattr(nir, kind)(**fields)


def _threshold(model: NeuronModel) -> np.ndarray:
    """v_th from the spike argument at v = 0 (it is v - v_th for a model NIR can express)."""
    p = model.coefficients(NUMPY_OPS)
    zeros = {n: np.zeros(1) for n in model.state_names}
    zeros["S"] = np.zeros(1)
    return -np.asarray(model.spike_argument(p, zeros, NUMPY_OPS), dtype=np.float64)


def _why_not(model: NeuronModel) -> str:
    """A sentence on why NIR has no node for this model."""
    names = list(model.state_names)
    J = np.asarray(subthreshold_jacobian(model), dtype=np.float64)
    J = J.reshape(-1, len(names), len(names))[0]
    shown = "[" + ", ".join("[" + ", ".join(f"{x:.4g}" for x in row) + "]" for row in J) + "]"
    if len(names) >= 2 and J[0, 1] != 0 and J[1, 0] != 0:
        return (
            f"its states {names[0]} and {names[1]} feed each other (sub-threshold J = {shown}, "
            f"J[0][1] = {J[0, 1]:.4g}, J[1][0] = {J[1, 0]:.4g}); NIR's only two-state neuron, "
            "CubaLIF, has a synaptic current that feeds the membrane one way"
        )
    if len(names) > 2:
        return (
            f"it has {len(names)} states ({', '.join(names)}, sub-threshold J = {shown}); NIR's "
            "neuron nodes have one state, or two (CubaLIF: one current that feeds the membrane)"
        )
    if len(names) == 2:
        return (
            f"it has {len(names)} states ({', '.join(names)}, sub-threshold J = {shown}) and its "
            "spike depends on more than a membrane that a one-way current feeds (NIR's CubaLIF); "
            "NIR has no adaptive threshold and no resonator"
        )
    return (
        "its one-state update is not NIR's LIF under the chosen scheme (a simulation of both "
        "differs)"
    )


def _one_state_node(model: NeuronModel, size: int, scheme: str, dt: float) -> Any:
    """A LIF node for a one-state model whose update NIR's LIF reproduces, checked by
    simulating both on the same input (identical spikes and states)."""
    import nir

    J = np.asarray(subthreshold_jacobian(model), dtype=np.float64).reshape(-1)
    b = np.asarray(input_vector(model), dtype=np.float64).reshape(-1)
    a = J * np.ones(max(J.size, b.size))
    b = b * np.ones(a.size)
    if np.any(a <= 0) or np.any(a >= 1):
        raise ValueError(
            f"{type(model).name}: decay a = {a.ravel()[0]:.6g} is not in (0, 1): NIR's LIF "
            "has no such node"
        )
    tau = -dt / np.log(a) if scheme == "exact" else dt / (1 - a)
    r = b / (1 - a)
    v_th = _threshold(model) * np.ones(a.size)
    twin = NirLIF(
        tau=tau if tau.size > 1 else float(tau[0]),
        r=r if r.size > 1 else float(r[0]),
        v_th=v_th if v_th.size > 1 else float(v_th[0]),
        v_leak=0.0,
        v_reset=0.0,
        dt=dt,
        discretization=scheme,
        reset="zero",
    )
    scale = float(np.mean(np.abs(v_th / r)))  # the input that reaches the threshold
    x = np.random.default_rng(0).normal(0.6 * scale, scale, (400, a.size))
    ours, theirs = simulate(model, x), simulate(twin, x)
    same = np.array_equal(ours.spikes, theirs.spikes) and np.allclose(
        ours.states[model.state_names[0]], theirs.states["v"], rtol=1e-9, atol=1e-12
    )
    if not same or ours.spikes.sum() == 0:
        raise ValueError(f"NIR has no node for {type(model).name}: {_why_not(model)}")
    return nir.LIF(
        tau=_per_neuron(tau, size, "tau"),
        r=_per_neuron(r, size, "r"),
        v_leak=np.zeros(size),
        v_threshold=_per_neuron(v_th, size, "v_th"),
        v_reset=np.zeros(size),
    )


def model_to_nir_node(
    model: NeuronModel | str, size: int, *, scheme: str | None = None, dt: float | None = None
) -> Any:
    """One model record (or registered name) as a NIR neuron node of ``size`` neurons.

    Parameters
    ----------
    model : NeuronModel or str
        A record or a registered name.
    size : int
        Neurons; every parameter is given one entry per neuron.
    scheme : str, optional
        How a one-state model outside the "nir" group is read as NIR's LIF: one of
        ``DISCRETIZATIONS`` (default ``"exact"``); the "nir" models carry their own.
    dt : float, optional
        The time step of that reading (default 1).

    Returns
    -------
    nir.NIRNode
        A LIF, CubaLIF, LI, CubaLI, IF or I node.

    Raises
    ------
    ValueError
        For a model NIR cannot express, saying why (for example LSTM-LIF: its two compartments
        feed each other), and for a model that subtracts the threshold.
    """
    if isinstance(model, str):
        model = get_model(model)
    if not isinstance(model, NeuronModel):
        raise ValueError(f"expected a model record or a registered name, got {model!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    name = type(model).name
    if not getattr(type(model), "nir_type", "") and len(model.state_names) != 1:
        raise ValueError(f"NIR has no node for {name}: {_why_not(model)}")
    if getattr(model, "reset", "zero") != "zero":
        raise ValueError(
            f"{name} with reset={model.reset!r} has no NIR node: NIR's neurons reset v to "
            "v_reset (reset='zero')"
        )
    if getattr(type(model), "nir_type", ""):
        return _nir_group_node(model, int(size))
    scheme = "exact" if scheme is None else scheme
    if scheme not in DISCRETIZATIONS:
        raise ValueError(f"scheme must be one of {list(DISCRETIZATIONS)}, got {scheme!r}")
    dt = 1.0 if dt is None else float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    return _one_state_node(model, int(size), scheme, dt)


def _items(network: Any) -> list[Any]:
    if isinstance(network, (NeuronModel, str)) or not isinstance(network, Iterable):
        return [network]
    return list(network)


def export_nir(
    network: Any,
    path: str | Path | None = None,
    *,
    size: int | None = None,
    scheme: str | None = None,
    dt: float | None = None,
) -> Any:
    """A ``nir.NIRGraph`` of Input -> items -> Output, written to ``path`` if given.

    Parameters
    ----------
    network : item or sequence of items
        An item is a model record or registered name (``size`` neurons), a ``(model, size)``
        pair, a ``ModelLayer`` (its current parameters and size) or a ``torch.nn.Linear`` (an
        Affine node, or Linear without bias). Widths must chain.
    path : str or Path, optional
        The file to write, through a temporary file renamed into place (never half-written).
    size : int, optional
        Neurons of a bare model item (default: the width of the item before it).
    scheme, dt : optional
        As in ``model_to_nir_node``.

    Returns
    -------
    nir.NIRGraph
        Its metadata records ``discretization`` and ``dt`` of the neuron models where they
        share one.

    Raises
    ------
    ValueError
        For an item NIR cannot express, widths that do not chain, nothing to export, or a path
        that cannot be written (a folder in the way, an unwritable folder).
    """
    import nir

    nodes: dict[str, Any] = {}
    width: int | None = None
    first: int | None = None
    schemes: set[tuple[str, float]] = set()
    for k, item in enumerate(_items(network)):
        node, n_in, n_out, meta = _node_of(item, size, scheme, dt, width)
        if width is not None and n_in != width:
            raise ValueError(f"item {k} ({type(item).__name__}) takes {n_in} inputs, gets {width}")
        first = n_in if first is None else first
        width = n_out
        nodes[str(k)] = node
        if meta is not None:
            schemes.add(meta)
    if not nodes:
        raise ValueError("nothing to export: give at least one model, layer or Linear")
    names = list(nodes)
    nodes["input"] = nir.Input(input_type={"input": np.array([first])})
    nodes["output"] = nir.Output(output_type={"output": np.array([width])})
    edges = [("input", names[0]), *zip(names[:-1], names[1:], strict=True), (names[-1], "output")]
    metadata: dict[str, Any] = {"exported_by": "lstmlif"}
    if len(schemes) == 1:
        (disc, step), = schemes  # fmt: skip
        metadata.update(discretization=disc, dt=step)
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    if path is not None:
        _write(graph, Path(path))
    return graph


def _node_of(
    item: Any, size: int | None, scheme: str | None, dt: float | None, width: int | None
) -> tuple[Any, int, int, tuple[str, float] | None]:
    import nir
    import torch

    if isinstance(item, torch.nn.Linear):
        w = item.weight.detach().cpu().double().numpy()
        if item.bias is None:
            return nir.Linear(weight=w), w.shape[1], w.shape[0], None
        b = item.bias.detach().cpu().double().numpy()
        return nir.Affine(weight=w, bias=b), w.shape[1], w.shape[0], None
    if isinstance(item, tuple) and len(item) == 2:
        item, size = item
    model_size = size
    if hasattr(item, "model") and hasattr(item, "size") and callable(item.model):
        model_size = item.size
        with torch.no_grad():
            item = item.model()
        item = item.replace(**{k: _numpy(v) for k, v in item.params().items()})
    if isinstance(item, str):
        item = get_model(item)
    if not isinstance(item, NeuronModel):
        raise ValueError(
            f"cannot export {type(item).__name__}: give a model record, a registered name, a "
            "ModelLayer or a torch.nn.Linear"
        )
    model_size = model_size if model_size is not None else width
    if model_size is None:
        raise ValueError(f"give the number of neurons of {type(item).name} (size)")
    node = model_to_nir_node(item, model_size, scheme=scheme, dt=dt)
    disc = getattr(item, "discretization", scheme or "exact")
    step = float(getattr(item, "dt", dt if dt is not None else 1.0))
    return node, model_size, model_size, (disc, step)


def _numpy(value: Any) -> Any:
    if hasattr(value, "detach"):
        arr = value.detach().cpu().double().numpy()
        return float(arr) if arr.ndim == 0 else arr
    return value


def _write(graph: Any, path: Path) -> None:
    """nir.write to a temporary file beside ``path``, renamed into place: no half-written file
    is left behind; a folder in the way or an unwritable folder is a ValueError naming it."""
    import nir

    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder")
    check_writable(path.parent if str(path.parent) else Path("."), "NIR")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    except OSError as err:
        raise ValueError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif export-nir MODEL --size N --out FILE [--param NAME=VALUE ...]``."""
    parser.add_argument("model", help="a registered model: " + ", ".join(model_names()))
    parser.add_argument("--size", type=int, default=1, help="number of neurons")
    parser.add_argument("--out", required=True, metavar="FILE", help="the NIR file to write")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a model parameter, e.g. --param tau=20 (repeatable)",
    )
    parser.add_argument(
        "--scheme",
        choices=DISCRETIZATIONS,
        default=None,
        help="the update: of the record (the nir models), or the one NIR's LIF is read with to "
        "match a one-state model outside the nir group (default: the record's own, or exact)",
    )
    parser.add_argument(
        "--dt", type=float, default=None, help="time step (default: the record's own, or 1)"
    )


#: ``--param`` names that take a word, not a number (the models' switches).
_SWITCHES = ("reset", "discretization", "convention")


def _parse_params(texts: list[str]) -> dict[str, Any]:
    """``--param NAME=VALUE`` options as a dict: a word for the switches (``_SWITCHES``), a
    finite number otherwise (``stability.parse_params``, which also refuses a name given
    twice)."""
    words: dict[str, str] = {}
    numbers = []
    for text in texts:
        name, sep, value = (s.strip() for s in text.partition("="))
        if sep and name in _SWITCHES:
            if name in words:
                raise ValueError(
                    f"--param {name} is given twice ({words[name]} and {value}); give it once"
                )
            words[name] = value
        else:
            numbers.append(text)
    return {**parse_params(numbers), **words}


def run(args: argparse.Namespace) -> int:
    """Write the model as a one-node NIR graph and say what was written."""
    import json

    from lstmlif.neurons import model_class

    params = _parse_params(args.param)
    if args.size < 1:
        raise ValueError(f"--size must be >= 1, got {args.size}")
    if getattr(model_class(args.model), "nir_type", ""):
        if args.dt is not None:
            params.setdefault("dt", args.dt)
        if args.scheme is not None:
            params.setdefault("discretization", args.scheme)
    model = get_model(args.model, **params)
    graph = export_nir(model, args.out, size=args.size, scheme=args.scheme, dt=args.dt)
    node = graph.nodes["0"]
    summary = {
        "file": str(args.out),
        "node": type(node).__name__,
        "neurons": int(args.size),
        "metadata": dict(graph.metadata),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"wrote {args.out}: Input -> {summary['node']} ({args.size} neuron(s)) -> Output; "
            + ", ".join(f"{k} = {v}" for k, v in summary["metadata"].items())
        )
    return 0
