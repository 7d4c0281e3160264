"""NIR (the Neuromorphic Intermediate Representation) in, gradient analysis out.

snntorch, norse, spikingjelly, Lava, Rockpool and Sinabs exchange networks as NIR graphs (the
``nir`` package). ``from_nir(graph, dt, discretization)`` turns every neuron node of such a
graph (LIF, CubaLIF, LI, CubaLI, IF; nested subgraphs included) into a registered model record
of ``lstmlif.neurons.catalogue.nir_models`` with the node's parameters, one array entry per
neuron. ``nir_report`` then gives, for each node and each distinct parameter set in it, the
sub-threshold one-step Jacobian J, its eigenvalues and spectral radius, the class (decaying,
marginal, ...), the memory horizon -1/ln rho(J) and the gradient reach: the number of steps k
after which ||J^k||_2 has fallen below 10^-decades (3 decades by default).

The time step matters: NIR stores continuous-time constants, so a node's per-step decay is
exp(-dt/tau) (``discretization="exact"``) or 1 - dt/tau (``"euler"``, what snntorch and norse
simulate). ``lstmlif inspect --nir FILE --dt DT --discretization exact|euler [--json]`` prints
the report.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from lstmlif.fileio import jsonable
from lstmlif.neurons import model_class, model_names
from lstmlif.neurons.base import NeuronModel
from lstmlif.neurons.catalogue.nir_models import DISCRETIZATIONS

from .stability import inspect_model, log10_power_norms, subthreshold_jacobian

__all__ = [
    "NIR_GROUP",
    "nir_model_classes",
    "read_graph",
    "from_nir",
    "gradient_reach",
    "nir_report",
    "add_nir_arguments",
    "run_nir",
]

#: The registry group of the models that NIR nodes become.
NIR_GROUP = "nir"

#: NIR's names of the parameters, where they differ from ours.
_NIR_NAMES = {"v_th": "v_threshold"}


def nir_model_classes() -> dict[str, type[NeuronModel]]:
    """NIR node type name ("LIF", "CubaLIF", ...) -> the registered model class (read from the
    registry: every model of group "nir" names its node type in ``nir_type``)."""
    out = {}
    for name in model_names(NIR_GROUP):
        cls = model_class(name)
        out[cls.nir_type] = cls
    return out


def read_graph(source: Any) -> Any:
    """A ``nir.NIRGraph`` as it is, or the graph read from a NIR file (HDF5); a missing or
    unreadable file is a ValueError naming it."""
    import nir

    if isinstance(source, nir.NIRGraph):
        return source
    if not isinstance(source, (str, Path)):
        raise ValueError(f"expected a nir.NIRGraph or a NIR file path, got {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"NIR file not found: {path}")
    try:
        return nir.read(path)
    except Exception as err:  # h5py and nir raise many kinds; the user needs the file named
        raise ValueError(f"cannot read {path} as a NIR graph: {err}") from None


def _check_dt(dt: Any, discretization: Any) -> float:
    if discretization not in DISCRETIZATIONS:
        raise ValueError(
            f"discretization must be one of {list(DISCRETIZATIONS)}, got {discretization!r}"
        )
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"dt must be a positive number, got {dt!r}") from None
    if isinstance(dt, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    return value


def _flow_order(graph: Any) -> list[str]:
    """The node names in the order signals flow: a topological order of the edges (Kahn's, ties
    in stored order), then any node on a cycle (a recurrent loop) in stored order. Edges may name
    a subgraph's inner node as "sub.inner"; they count for "sub"."""
    names = list(graph.nodes)
    top = {n: n for n in names}

    def owner(ref: str) -> str | None:
        return top.get(ref) or top.get(ref.split(".", 1)[0])

    indegree = dict.fromkeys(names, 0)
    succ: dict[str, list[str]] = {n: [] for n in names}
    for src, dst in graph.edges:
        a, b = owner(src), owner(dst)
        if a is None or b is None or a == b:
            continue
        succ[a].append(b)
        indegree[b] += 1
    ready = [n for n in names if indegree[n] == 0]
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in succ[n]:
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    return order + [n for n in names if n not in order]


def _neuron_nodes(graph: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(name, node) for every node in flow order, subgraphs flattened as "outer.inner"."""
    import nir

    out = []
    for name in _flow_order(graph):
        node = graph.nodes[name]
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            out += _neuron_nodes(node, prefix=f"{full}.")
        else:
            out.append((full, node))
    return out


def _model_of(name: str, node: Any, cls: type[NeuronModel], dt: float, disc: str) -> NeuronModel:
    params = {}
    for p in cls.param_names:
        value = getattr(node, _NIR_NAMES.get(p, p), None)
        if value is None:
            continue  # NIR leaves v_reset out: the model's default (0)
        arr = np.asarray(value, dtype=np.float64)
        params[p] = float(arr) if arr.ndim == 0 else arr
    try:
        return cls(**params, dt=dt, discretization=disc)
    except ValueError as err:
        raise ValueError(f"NIR node {name!r} ({type(node).__name__}): {err}") from None


def from_nir(graph: Any, dt: float, discretization: str = "exact") -> dict[str, NeuronModel]:
    """Every LIF, CubaLIF, LI, CubaLI and IF node of ``graph`` (a ``nir.NIRGraph`` or a NIR file)
    as a model record, by node name (subgraph nodes as "outer.inner"), in the order signals
    flow along the edges (nodes on a recurrent loop after the others, in stored order).

    Parameters keep the node's shape (one entry per neuron); ``dt`` is the simulation step in
    the unit of the node's time constants; ``discretization`` is "exact" (a = exp(-dt/tau)) or
    "euler" (a = 1 - dt/tau). Other nodes (Input, Affine, Linear, Output, ...) are skipped.
    """
    dt = _check_dt(dt, discretization)
    classes = nir_model_classes()
    out = {}
    for name, node in _neuron_nodes(read_graph(graph)):
        cls = classes.get(type(node).__name__)
        if cls is not None:
            out[name] = _model_of(name, node, cls, dt, discretization)
    return out


def gradient_reach(J: Any, kmax: int = 10000, decades: float = 3.0) -> float:
    """The smallest k in 1..kmax with ||J^k||_2 <= 10^-decades (log space, exact for any kmax);
    inf when the norm stays above that for every k <= kmax (marginal or growing maps)."""
    if not (isinstance(decades, (int, float)) and math.isfinite(decades) and decades > 0):
        raise ValueError(f"decades must be a finite number > 0, got {decades!r}")
    logs = log10_power_norms(J, kmax, ord=2)
    below = np.flatnonzero(logs[1:] <= -decades)
    return float(below[0] + 1) if below.size else math.inf


def _parameter_sets(model: NeuronModel) -> tuple[int, list[tuple[dict[str, float], int]]]:
    """(neurons, [(scalar parameters, how many neurons share them), ...]) in first-seen order."""
    params = model.params()
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in params.values()))
    n = int(arrays[0].size) if arrays else 1
    table = np.stack([a.reshape(-1) for a in arrays], axis=1) if arrays else np.zeros((1, 0))
    _, first, counts = np.unique(table, axis=0, return_index=True, return_counts=True)
    order = np.argsort(first)
    sets = [
        ({k: float(table[first[i], j]) for j, k in enumerate(params)}, int(counts[i]))
        for i in order
    ]
    return n, sets


def nir_report(
    graph: Any,
    dt: float,
    discretization: str = "exact",
    kmax: int = 10000,
    decades: float = 3.0,
) -> dict[str, Any]:
    """The gradient analysis of every neuron node of a NIR graph (JSON-ready).

    Returns ``{"dt", "discretization", "kmax", "decades", "nodes": [...], "other_nodes"}``;
    each node: name, NIR type, registered model, neurons, and ``groups``, one per distinct
    parameter set: neurons, params, state names, jacobian, eigenvalues ([re, im]), spectral
    radius, class, period, memory horizon (steps) and gradient reach (steps).
    """
    g = read_graph(graph)
    models = from_nir(g, dt, discretization)
    other: dict[str, int] = {}
    for name, node in _neuron_nodes(g):
        if name not in models:
            other[type(node).__name__] = other.get(type(node).__name__, 0) + 1
    nodes = []
    for name, model in models.items():
        n, sets = _parameter_sets(model)
        groups = []
        for params, count in sets:
            scalar = model.replace(**params)
            rep = inspect_model(scalar, kmax=kmax)
            J = subthreshold_jacobian(scalar)
            groups.append(
                {
                    "neurons": count,
                    "params": params,
                    "state_names": rep["state_names"],
                    "jacobian": rep["jacobian"],
                    "eigenvalues": rep["eigenvalues"],
                    "spectral_radius": rep["spectral_radius"],
                    "class": rep["class"],
                    "period": rep["period"],
                    "memory_horizon": rep["memory_horizon"],
                    "gradient_reach": gradient_reach(J, kmax=kmax, decades=decades),
                }
            )
        nodes.append(
            {
                "node": name,
                "nir_type": type(model).nir_type,
                "model": type(model).name,
                "neurons": n,
                "groups": groups,
            }
        )
    return {
        "dt": float(dt),
        "discretization": discretization,
        "kmax": int(kmax),
        "decades": float(decades),
        "nodes": nodes,
        "other_nodes": other,
    }


# ----------------------------------------------------------------------------- command line


def add_nir_arguments(parser: argparse.ArgumentParser) -> None:
    """``--nir FILE --dt DT --discretization exact|euler --reach-decades D`` (for ``inspect``)."""
    group = parser.add_argument_group("NIR graphs (instead of MODEL)")
    group.add_argument(
        "--nir", metavar="FILE", default=None, help="analyse every neuron node of a NIR file"
    )
    group.add_argument(
        "--dt", type=float, default=None, help="time step, in the unit of the graph's tau"
    )
    group.add_argument(
        "--discretization",
        choices=DISCRETIZATIONS,
        default="exact",
        help="exact: a = exp(-dt/tau); euler: a = 1 - dt/tau (snntorch, norse)",
    )
    group.add_argument(
        "--reach-decades",
        type=float,
        default=3.0,
        help="gradient reach: steps until ||J^k||_2 falls below 10^-D",
    )


def _fmt(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else ("inf" if x > 0 else "nan")


def run_nir(args: argparse.Namespace) -> int:
    """``lstmlif inspect --nir FILE --dt DT``: the report as text, or JSON with ``--json``."""
    if getattr(args, "model", None):
        raise ValueError("give either MODEL or --nir FILE, not both")
    if args.dt is None:
        raise ValueError("--nir needs --dt (the time step, in the unit of the graph's tau)")
    if args.kmax < 1:
        raise ValueError(f"--kmax must be >= 1, got {args.kmax}")
    rep = nir_report(args.nir, args.dt, args.discretization, args.kmax, args.reach_decades)
    if args.json:
        print(json.dumps(jsonable(rep), indent=2))
        return 0
    other = ", ".join(f"{k} x{v}" for k, v in rep["other_nodes"].items()) or "none"
    lines = [
        f"NIR graph {args.nir}: dt = {_fmt(rep['dt'])}, discretization = {rep['discretization']}"
        f" (a = {'exp(-dt/tau)' if rep['discretization'] == 'exact' else '1 - dt/tau'})",
        f"{len(rep['nodes'])} neuron node(s); other nodes: {other}",
    ]
    if not rep["nodes"]:
        lines.append("no LIF, CubaLIF, LI, CubaLI or IF node in this graph")
    for node in rep["nodes"]:
        lines.append("")
        lines.append(
            f"node {node['node']}: NIR {node['nir_type']} -> {node['model']}, "
            f"{node['neurons']} neuron(s), {len(node['groups'])} parameter set(s)"
        )
        for g in node["groups"]:
            names = g["state_names"]
            ps = ", ".join(f"{k}={_fmt(v)}" for k, v in g["params"].items())
            lines.append(f"  {g['neurons']} neuron(s) with {ps}")
            lines.append(f"  Jacobian d({', '.join(names)})[t] / d({', '.join(names)})[t-1]:")
            for name, row in zip(names, g["jacobian"], strict=True):
                lines.append(f"    {name}: " + "  ".join(f"{v: .6f}" for v in row))
            eig = ", ".join(f"{re:.6f}{im:+.6f}i" for re, im in g["eigenvalues"])
            lines.append(f"  eigenvalues: {eig}")
            lines.append(f"  spectral radius: {g['spectral_radius']:.10f} ({g['class']})")
            mh = g["memory_horizon"]
            lines.append(
                "  memory horizon -1/ln rho: " + (f"{mh:.4f} steps" if math.isfinite(mh) else "inf")
            )
            reach = g["gradient_reach"]
            bound = f"10^-{_fmt(rep['decades'])}"
            lines.append(
                f"  gradient reach (||J^k||_2 <= {bound}): "
                + (f"{int(reach)} steps" if math.isfinite(reach) else f"> {rep['kmax']} steps")
            )
    print("\n".join(lines))
    return 0
