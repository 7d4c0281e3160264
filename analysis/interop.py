"""NIR (the Neuromorphic Intermediate Representation) in, gradient analysis out.

snntorch, norse, spikingjelly, Lava, Rockpool and Sinabs exchange networks as NIR graphs (the
``nir`` package). ``from_nir(graph, dt, discretization)`` turns every neuron node of such a
graph (LIF, CubaLIF, LI, CubaLI, IF and I; nested subgraphs included) into a registered model
record of ``lstmlif.neurons.catalogue.nir_models`` with the node's parameters, one array entry
per neuron. ``nir_report`` then gives, for each node and each distinct parameter set in it, the
sub-threshold one-step Jacobian `J`, its eigenvalues and spectral radius, the class (decaying,
marginal, ...), the memory horizon `-1/ln rho(J)` and the gradient reach: the number of steps
`k` after which `||J^k||_2` has fallen below `10^-decades` (3 decades by default). A graph
with cycles is also analysed as a network (``network_jacobian``): the block Jacobian of the
whole linear recurrence, spikes held at 0 by the surrogate below threshold.

NIR stores continuous-time constants; ``discretization`` names the discrete update ("exact",
"euler", or a library's own: "snntorch", "norse", "spikingjelly"; see ``nir_models``), and
``library`` (``--as LIB``) reads a file the way the library that wrote it meant it: its update,
its time step and its time-constant convention (``PRESETS``).

This module also hosts ``lstmlif inspect`` (``add_arguments``, ``run``): a registered model is
analysed by ``stability``, a NIR file (``--nir FILE``) here.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import errno
import json
import math
import os
import stat
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lstmlif.fileio import jsonable
from lstmlif.neurons import model_class, model_names
from lstmlif.neurons.base import NeuronModel
from lstmlif.neurons.catalogue.nir_models import DISCRETIZATIONS, EULER_DECAY_SCHEMES

from . import stability
from .stability import (
    _classify_matrix,
    _step_2x2,
    input_vector,
    log10_power_norms,
    memory_horizon,
    period,
    subthreshold_jacobian,
)

__all__ = [
    "NIR_GROUP",
    "PRESETS",
    "Preset",
    "nir_model_classes",
    "read_graph",
    "from_nir",
    "gradient_reach",
    "network_jacobian",
    "scheme_notes",
    "nir_report",
    "add_nir_arguments",
    "run_nir",
    "add_arguments",
    "run",
]

#: The registry group of the models that NIR nodes become.
NIR_GROUP = "nir"

#: NIR's names of the parameters, where they differ from ours.
_NIR_NAMES = {"v_th": "v_threshold"}

#: The parameters that are time constants (a preset may rescale them; complex ones are refused).
_TAU_PARAMS = ("tau", "tau_syn", "tau_mem")

#: Lane-steps per second of the vectorised 2x2 reach sweep, a lower estimate (measured on a
#: shared 2-core machine: 3,000 and 30,000 CubaLIF sets x 10,000 steps without early stop,
#: 4.3e6 and 4.7e6 per second).
SWEEP_RATE = 4e6
#: Work bound of one report: parameter sets of two-state nodes x kmax (about 150 s at
#: ``SWEEP_RATE``); above it the report is refused with the numbers and the advice to lower kmax.
MAX_REPORT_WORK = 6e8

#: Above this many states the network's gradient reach is not computed (kmax products of
#: D x D matrices); its spectral radius still is, up to ``MAX_NETWORK_STATES``.
MAX_REACH_STATES = 128
MAX_NETWORK_STATES = 3000


@dataclasses.dataclass(frozen=True)
class Preset:
    """How a library's NIR files are meant: the update (``discretization``), the time step its
    exporter assumed (``dt``, seconds), the factor ``tau_scale(dt)`` by which its exporter's
    time constants must be multiplied to be the ODE's, and the convention in words."""

    library: str
    discretization: str
    dt: float
    tau_scale: Callable[[float], float]
    convention: str


#: The exporting libraries whose update and conventions are reproduced (``--as LIB``).
PRESETS: dict[str, Preset] = {
    "snntorch": Preset(
        "snntorch",
        "snntorch",
        1e-4,
        lambda dt: 1.0,
        "snntorch 1.0 writes tau = dt / (1 - beta), r = tau / dt for dt = 1e-4 "
        "(so v = beta v + I); Synaptic: the membrane reads the new current",
    ),
    "spikingjelly": Preset(
        "spikingjelly",
        "spikingjelly",
        1e-4,
        lambda dt: 1.0,
        "spikingjelly 2.0 writes tau = tau_steps dt and CUBALIF's decays as tau = dt / (1 - "
        "decay) for dt = 1e-4; CUBALIFNode: the membrane reads the new current",
    ),
    "norse": Preset(
        "norse",
        "norse",
        1e-3,
        lambda dt: 1.0 / dt,
        "norse 1.1 writes tau = dt / tau_inv for dt = 1e-3 (the ODE's tau is 1 / tau_inv = "
        "tau_written / dt); LIFCell: the input jumps the current, the membrane reads it, then "
        "the current decays; IF adds the input per step",
    ),
}


def nir_model_classes() -> dict[str, type[NeuronModel]]:
    """The registered model class of each NIR node type.

    Read from the registry: every model of group "nir" names its node type in ``nir_type``,
    and the type of itself without threshold in ``nir_integrator_type`` where it has one.

    Returns
    -------
    dict of str to type
        NIR node type name (``"LIF"``, ``"CubaLIF"``, ..., ``"I"``) -> model class.
    """
    out = {}
    for name in model_names(NIR_GROUP):
        cls = model_class(name)
        out[cls.nir_type] = cls
        extra = getattr(cls, "nir_integrator_type", "")
        if extra:
            out.setdefault(extra, cls)
    return out


# ----------------------------------------------------------------------------- reading files


def _describe_path(path: Path) -> str | None:
    """Why ``path`` is not a readable regular file (None when it is one)."""
    try:
        st = os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return f"{path} is a symbolic link loop, not a NIR file"
        if os.path.lexists(path):
            return f"{path} is a dangling symbolic link, not a NIR file"
        if err.errno == errno.EACCES:
            return f"{path}: permission denied"
        return f"NIR file not found: {path}"
    mode = st.st_mode
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    for test, kind in kinds:
        if test(mode):
            return f"{path} is {kind}, not a NIR file"
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file"
    if st.st_size == 0:
        return f"{path} is empty (0 bytes), not a NIR file"
    if not os.access(path, os.R_OK):
        return f"{path}: permission denied (the file is not readable)"
    return None


def _required_fields(cls: type) -> list[str]:
    """The constructor fields of a NIR node class that have no default."""
    if not dataclasses.is_dataclass(cls):
        return []
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.init
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and f.name not in ("input_type", "output_type", "metadata")
    ]


def _check_node_dict(path: Path, d: Any, name: str) -> None:
    """Every node of the file's dictionary has a known ``type`` and the entries its NIR class
    needs, arrays of numbers where NIR expects arrays: else a ValueError naming the file, the
    node and what is missing."""
    import nir

    where = f"node {name!r}" if name else "the root node"
    if not isinstance(d, dict):
        raise ValueError(f"{path}: {where} is a {type(d).__name__}, not a group of entries")
    kind = d.get("type")
    if kind is None:
        raise ValueError(f"{path}: {where} has no 'type' entry (the file is damaged or truncated)")
    cls = getattr(nir, kind, None) if isinstance(kind, str) else None
    if not (isinstance(cls, type) and issubclass(cls, nir.NIRNode)):
        raise ValueError(f"{path}: {where} has an unknown type {kind!r}")
    if cls is nir.NIRGraph:
        missing = [k for k in ("nodes", "edges") if k not in d]
        if missing:
            raise ValueError(f"{path}: {where} (NIRGraph) has no {' and no '.join(missing)} entry")
        nodes = d["nodes"]
        if not isinstance(nodes, dict):
            raise ValueError(f"{path}: {where} (NIRGraph): 'nodes' is not a group of nodes")
        for sub, node in nodes.items():
            _check_node_dict(path, node, f"{name}.{sub}" if name else sub)
        edges = np.asarray(d["edges"], dtype=object)
        if edges.size and (edges.ndim != 2 or edges.shape[1] != 2):
            raise ValueError(
                f"{path}: {where} (NIRGraph): 'edges' must be pairs of node names, got shape "
                f"{edges.shape}"
            )
        known = set(nodes)
        for a, b in edges.reshape(-1, 2) if edges.size else ():
            for end in (a, b):
                text = end.decode() if isinstance(end, bytes) else str(end)
                if text not in known and text.split(".", 1)[0] not in known:
                    raise ValueError(
                        f"{path}: {where} (NIRGraph): an edge names node {text!r}, which the "
                        f"graph does not have (nodes: {sorted(known)})"
                    )
        return
    needed = ["shape"] if cls in (nir.Input, nir.Output) else _required_fields(cls)
    missing = [k for k in needed if k not in d]
    if missing:
        raise ValueError(
            f"{path}: {where} ({kind}) has no {', '.join(repr(m) for m in missing)} entry"
        )
    hints = getattr(cls, "__annotations__", {})
    for key, value in d.items():
        if key == "type" or "ndarray" not in str(hints.get(key, "")):
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufc":
            raise ValueError(
                f"{path}: {where} ({kind}): {key!r} is {type(value).__name__} {value!r}, not an "
                "array of numbers"
            )


def _untyped(d: dict) -> dict:
    """The file's dictionary with NIR's type check switched off in every (sub)graph."""
    if d.get("type") != "NIRGraph":
        return d
    out = dict(d, type_check=False)
    out["nodes"] = {k: _untyped(v) for k, v in d["nodes"].items()}
    return out


def _read_file(path: Path) -> Any:
    import h5py
    import nir
    from nir.serialization import hdf2dict

    problem = _describe_path(path)
    if problem is not None:
        raise ValueError(problem)
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise ValueError(f"{path}: no 'node' group (an HDF5 file, but not a NIR graph)")
            data = hdf2dict(f["node"])
    except OSError as err:
        if "signature" in str(err):  # h5py: "file signature not found"
            raise ValueError(f"cannot read {path} as a NIR graph: not an HDF5 file") from None
        if "truncated" in str(err):
            raise ValueError(
                f"cannot read {path} as a NIR graph: the file is truncated "
                f"({path.stat().st_size} bytes; HDF5 says: {err})"
            ) from None
        raise ValueError(f"cannot read {path} as a NIR graph: {err}") from None
    _check_node_dict(path, data, "")
    data.pop("type_check", None)
    if data["type"] != "NIRGraph":  # one node: nothing to type-check
        try:
            return nir.dict2NIRNode(copy.deepcopy(data))
        except Exception as err:  # noqa: BLE001 - the nir package raises many kinds
            reason = str(err) or type(err).__name__
            raise ValueError(f"cannot read {path} as a NIR graph: {reason}") from None
    try:
        return nir.dict2NIRNode(copy.deepcopy(dict(data, type_check=True)))  # NIR edits dicts
    except Exception as err:  # noqa: BLE001 - NIR's type check raises several kinds
        first = str(err) or type(err).__name__
    try:
        graph = nir.dict2NIRNode(_untyped(copy.deepcopy(data)))
    except Exception as err:  # noqa: BLE001 - the nir package raises many kinds
        reason = str(err) or type(err).__name__
        raise ValueError(f"cannot read {path} as a NIR graph: {reason}") from None
    warnings.warn(
        f"{path} fails NIR's type check ({first}); read without it", UserWarning, stacklevel=3
    )
    return graph


def read_graph(source: Any) -> Any:
    """A ``nir.NIRGraph`` as it is, or the graph read from a NIR file (HDF5).

    A graph that fails NIR's type check (for example norse's batched sample input,
    ``type mismatch: input.output: [[1 3]] -> 0.input: [[3]]``) is read without it, with a
    warning that names what failed. A single node (not a graph) becomes a graph of that node,
    named ``"node"``.

    Parameters
    ----------
    source : nir.NIRGraph, nir.NIRNode, str or Path
        A graph, a single node, or the path of a NIR file.

    Returns
    -------
    nir.NIRGraph
        The graph.

    Raises
    ------
    ValueError
        Naming the file and what is wrong or missing: a path that is not a regular file (a
        folder, a FIFO, a device, a symbolic link loop) or a damaged file.
    """
    import nir

    if isinstance(source, (str, Path)):
        source = _read_file(Path(source))
    if isinstance(source, nir.NIRGraph):
        return source
    if isinstance(source, nir.NIRNode):  # a file or object holding one node: a graph of it
        return nir.NIRGraph(nodes={"node": source}, edges=[], type_check=False)
    raise ValueError(f"expected a nir.NIRGraph or a NIR file path, got {type(source).__name__}")


# ----------------------------------------------------------------------------- records


def _resolve(dt: Any, discretization: Any, library: Any) -> tuple[float, str, Preset | None]:
    """(dt, discretization, preset) from the arguments: a library's preset gives both defaults;
    otherwise dt is needed and the discretization defaults to "exact"."""
    preset = None
    if library is not None:
        if library not in PRESETS:
            raise ValueError(f"library must be one of {list(PRESETS)}, got {library!r}")
        preset = PRESETS[library]
        if discretization is not None and discretization != preset.discretization:
            raise ValueError(
                f"give either a discretization or library={library!r} (its own update, "
                f"{preset.discretization!r}), not both"
            )
        discretization = preset.discretization
        dt = preset.dt if dt is None else dt
    if discretization is None:
        discretization = "exact"
    if discretization not in DISCRETIZATIONS:
        raise ValueError(
            f"discretization must be one of {list(DISCRETIZATIONS)}, got {discretization!r}"
        )
    if dt is None:
        raise ValueError("dt is needed (the time step, in the unit of the graph's tau)")
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"dt must be a positive number, got {dt!r}") from None
    if isinstance(dt, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    return value, discretization, preset


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


def _real_array(name: str, node: Any, field: str, value: Any) -> np.ndarray:
    """The field as float64; complex values are refused (NIR's ODEs are real)."""
    where = f"NIR node {name!r} ({type(node).__name__})"
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        raise ValueError(f"{where}: {field} is not an array of numbers") from None
    if arr.dtype.kind == "c":
        if np.any(arr.imag != 0):
            first = complex(arr.ravel()[np.flatnonzero(arr.imag.ravel() != 0)[0]])
            raise ValueError(
                f"{where}: {field} has complex values (first {first}); NIR's neuron equations "
                "are real, and a complex time constant has no decay to analyse"
            )
        arr = arr.real
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {field} is {arr.dtype}, not an array of numbers")
    return arr.astype(np.float64)


def _model_of(
    name: str, node: Any, cls: type[NeuronModel], dt: float, disc: str, preset: Preset | None
) -> NeuronModel:
    params: dict[str, Any] = {}
    for p in cls.param_names:
        field = _NIR_NAMES.get(p, p)
        value = getattr(node, field, None)
        if value is None:
            if p == "v_th" and not hasattr(node, field):
                params[p] = None  # a node type without threshold (LI, CubaLI, I)
            continue  # NIR leaves v_reset out: the model's default (0)
        arr = _real_array(name, node, field, value)
        if preset is not None and p in _TAU_PARAMS:
            arr = arr * preset.tau_scale(dt)
        params[p] = float(arr) if arr.ndim == 0 else arr
    try:
        return cls(**params, dt=dt, discretization=disc)
    except ValueError as err:
        raise ValueError(f"NIR node {name!r} ({type(node).__name__}): {err}") from None


def from_nir(
    graph: Any,
    dt: float | None = None,
    discretization: str | None = None,
    *,
    library: str | None = None,
) -> dict[str, NeuronModel]:
    """Every neuron node of a NIR graph as a model record.

    Every LIF, CubaLIF, LI, CubaLI, IF and I node becomes a record of
    ``lstmlif.neurons.catalogue.nir_models`` whose parameters keep the node's shape (one entry
    per neuron). Other nodes (Input, Affine, Linear, Output, ...) are skipped.

    Parameters
    ----------
    graph : nir.NIRGraph, str or Path
        The graph, or a NIR file (``read_graph``).
    dt : float, optional
        The simulation step, in the unit of the nodes' time constants; needed unless
        ``library`` gives it.
    discretization : str, optional
        One of ``DISCRETIZATIONS`` (default ``"exact"``).
    library : str, optional
        ``"snntorch"``, ``"norse"`` or ``"spikingjelly"``: read the file as that library meant
        it (``PRESETS``: its update, its dt unless ``dt`` is given, and its time-constant
        convention).

    Returns
    -------
    dict of str to NeuronModel
        Node name (subgraph nodes as ``"outer.inner"``) -> record, in the order signals flow
        along the edges (nodes on a recurrent loop after the others, in stored order).
    """
    dt, discretization, preset = _resolve(dt, discretization, library)
    classes = nir_model_classes()
    out = {}
    for name, node in _neuron_nodes(read_graph(graph)):
        cls = classes.get(type(node).__name__)
        if cls is not None:
            out[name] = _model_of(name, node, cls, dt, discretization, preset)
    return out


# ----------------------------------------------------------------------------- analysis


def gradient_reach(J: Any, kmax: int = 10000, decades: float = 3.0) -> float:
    """The gradient reach of a map: the smallest `k` in `1..kmax` with `||J^k||_2 <= 10^-decades`.

    Computed in log space (``stability.log10_power_norms``), exact for any ``kmax``.

    Parameters
    ----------
    J : array_like
        (n, n), one map.
    kmax : int
        The largest power looked at.
    decades : float
        The bound, `10^-decades` (> 0).

    Returns
    -------
    float
        Steps; `inf` when the norm stays above the bound for every `k <= kmax` (marginal or
        growing maps).
    """
    _check_decades(decades)
    logs = log10_power_norms(J, kmax, ord=2)
    below = np.flatnonzero(logs[1:] <= -decades)
    return float(below[0] + 1) if below.size else math.inf


def _check_decades(decades: Any) -> None:
    if not (isinstance(decades, (int, float)) and math.isfinite(decades) and decades > 0):
        raise ValueError(f"decades must be a finite number > 0, got {decades!r}")


def _reach_stack(
    J: np.ndarray, kmax: int, decades: float, progress: Callable[[str], None] | None = None
) -> np.ndarray:
    """``gradient_reach`` of each matrix of a stack (G, n, n): closed form for n = 1 (|a|^k is
    monotone: k = ceil(decades / -log10|a|), checked against its neighbour); for n = 2 the
    renormalised power sweep of all maps at once, stopped when every decaying one has crossed
    (maps with rho >= 1 never cross: ||J^k|| >= rho^k); larger n in chunks of the stored sweep."""
    G, n = J.shape[0], J.shape[-1]
    out = np.full(G, math.inf)
    if n == 1:
        a = np.abs(J[:, 0, 0])
        with np.errstate(divide="ignore"):
            la = np.log10(a)
        ok = la < 0
        k = np.ones(G)
        k[ok] = np.maximum(1.0, np.ceil(-decades / la[ok]))
        # the float quotient may land one off: step to the exact smallest k
        low = ok & (k > 1) & ((k - 1) * la <= -decades)
        k[low] -= 1
        high = ok & (k * la > -decades)
        k[high] += 1
        out[ok & (k <= kmax)] = k[ok & (k <= kmax)]
        return out
    radius = np.max(np.abs(np.linalg.eigvals(J)), axis=-1)
    live = np.flatnonzero(radius < 1)  # rho >= 1: ||J^k|| >= rho^k >= 1 for every k
    if n == 2 and live.size:
        # the renormalised 2x2 sweep, stopped once every decaying map has crossed the bound
        step = _step_2x2(J[live], 2)
        log_c = np.zeros(live.size)
        first = np.full(live.size, math.inf)
        t0 = last = time.monotonic()
        for k in range(1, kmax + 1):
            if progress is not None and k % 256 == 0 and time.monotonic() - last > 5.0:
                last = time.monotonic()
                left = (last - t0) / k * (kmax - k)
                progress(
                    f"gradient reach of {live.size} parameter sets: step {k} of at most {kmax}, "
                    f"at most about {left:.0f} s left"
                )
            with np.errstate(divide="ignore"):
                log_c = log_c + np.log10(step())
            new = np.isinf(first) & (log_c <= -decades)
            first[new] = k
            if not np.isinf(first).any():
                break
        out[live] = first
        return out
    chunk = max(1, int(1e7 // (kmax + 1)))
    for start in range(0, live.size, chunk):
        idx = live[start : start + chunk]
        logs = log10_power_norms(J[idx], kmax, ord=2)
        hit = logs[:, 1:] <= -decades
        first = np.argmax(hit, axis=1)
        found = hit[np.arange(hit.shape[0]), first]
        out[idx] = np.where(found, first + 1.0, math.inf)
    return out


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


def scheme_notes(model: NeuronModel, params: dict[str, float]) -> list[str]:
    """Where an Euler-type step is not stable although the ODE decays.

    With the step's decay `a = 1 - dt/tau`: `dt/tau > 2` gives `|a| > 1` (the step grows),
    `1 < dt/tau <= 2` gives `a < 0` (the step alternates in sign). The exact scheme has none
    (`a = exp(-dt/tau)` is always in (0, 1)).

    Parameters
    ----------
    model : NeuronModel
        A record of group "nir" (its ``discretization`` and ``dt`` are read).
    params : dict of str to float
        One parameter set of it (its time constants ``tau``, ``tau_syn``, ``tau_mem``).

    Returns
    -------
    list of str
        One sentence per time constant concerned, naming the scheme.
    """
    disc = model.discretization
    if disc not in EULER_DECAY_SCHEMES:
        return []
    dt = float(model.dt)
    notes = []
    for name in _TAU_PARAMS:
        if name not in params:
            continue
        ratio = dt / params[name]
        a = 1 - ratio
        if ratio > 2:
            notes.append(
                f"scheme unstable: the {disc} step's decay a = 1 - dt/{name} = {a:.6g} has "
                f"|a| > 1 (dt/{name} = {ratio:.6g} > 2) and grows, although the ODE decays "
                f"(exact a = {math.exp(-ratio):.6g}); the scheme, not the neuron, is unstable"
            )
        elif ratio > 1:
            notes.append(
                f"scheme oscillates: the {disc} step's decay a = 1 - dt/{name} = {a:.6g} < 0 "
                f"(dt/{name} = {ratio:.6g} > 1) alternates in sign, although the ODE decays "
                f"monotonically (exact a = {math.exp(-ratio):.6g})"
            )
    return notes


def _analyse_node(
    model: NeuronModel,
    kmax: int,
    decades: float,
    sets: Any = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """The groups of one node, vectorised over its distinct parameter sets."""
    n, sets = _parameter_sets(model) if sets is None else sets
    if not sets:
        return n, []
    names = list(sets[0][0])
    stacked = {k: np.array([s[0][k] for s in sets]) for k in names}
    group_model = model.replace(**stacked)
    k = len(model.state_names)
    J = subthreshold_jacobian(group_model).reshape(len(sets), k, k)
    lam = np.linalg.eigvals(J)
    radius = np.max(np.abs(lam), axis=-1)
    classes = _classify_matrix(J).reshape(-1)
    periods = np.asarray(period(group_model), dtype=np.float64).reshape(-1)
    horizons = np.asarray(memory_horizon(group_model), dtype=np.float64).reshape(-1)
    reach = _reach_stack(J, kmax, decades, progress)
    groups = []
    for g, (params, count) in enumerate(sets):
        groups.append(
            {
                "neurons": count,
                "params": params,
                "state_names": list(model.state_names),
                "jacobian": J[g].tolist(),
                "eigenvalues": [[float(z.real), float(z.imag)] for z in lam[g]],
                "spectral_radius": float(radius[g]),
                "class": str(classes[g]),
                "period": float(periods[g]),
                "memory_horizon": float(horizons[g]),
                "gradient_reach": float(reach[g]),
                "scheme_notes": scheme_notes(model, params),
            }
        )
    return n, groups


# ----------------------------------------------------------------------------- networks


def _flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Every non-graph node as "outer.inner" and every edge between them; an edge into (out of)
    a subgraph goes to its Input (from its Output) nodes."""
    import nir

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(node, f"{prefix}{name}.")
            nodes.update(sub_nodes)
            edges += sub_edges
        else:
            nodes[f"{prefix}{name}"] = node

    def ends(ref: str, out: bool) -> list[str]:
        full = f"{prefix}{ref}"
        if full in nodes:
            return [full]
        node = graph.nodes.get(ref)
        if isinstance(node, nir.NIRGraph):
            inner = node.outputs if out else node.inputs
            return [f"{full}.{k}" for k in inner if f"{full}.{k}" in nodes]
        return []

    for a, b in graph.edges:
        for x in ends(a, True):
            for y in ends(b, False):
                edges.append((x, y))
    return nodes, edges


def _on_cycles(names: list[str], edges: list[tuple[str, str]]) -> set[str]:
    """The nodes that lie on a directed cycle (Tarjan's strongly connected components of size
    > 1, or a node with an edge to itself)."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[str] = set()
    counter = 0
    for root in names:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            if i < len(succ[v]):
                work.append((v, i + 1))
                w = succ[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in succ[v]:
                    found.update(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return found


def _linear_map(name: str, node: Any) -> np.ndarray | None:
    """The matrix of an instantaneous node (Affine, Linear, Scale: its weight; Input, Output:
    None for the identity); a ValueError for a node the linear analysis cannot pass."""
    import nir

    if isinstance(node, (nir.Input, nir.Output)):
        return None
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = _real_array(name, node, "weight", node.weight)
        if w.ndim != 2:
            raise ValueError(f"NIR node {name!r}: weight of shape {w.shape} is not a matrix")
        return w
    if isinstance(node, nir.Scale):
        return np.diag(_real_array(name, node, "scale", node.scale).reshape(-1))
    raise ValueError(
        f"the loop passes through node {name!r} ({type(node).__name__}), which the linear "
        "network analysis does not cover (it covers Affine, Linear, Scale, Input, Output and "
        "the neuron nodes)"
    )


def network_jacobian(
    graph: Any,
    dt: float | None = None,
    discretization: str | None = None,
    *,
    library: str | None = None,
) -> dict[str, Any]:
    """The block Jacobian of a NIR graph's whole linear recurrence, below threshold.

    Every neuron node `n` is `x_n[t] = A_n x_n[t-1] + b_n I_n[t]` (its per-neuron
    sub-threshold Jacobian and input vector); its output is its spikes (LIF, CubaLIF, IF: held
    at 0 by the surrogate below threshold) or its potential `v` (LI, CubaLI, I). A node's input
    is the sum of the outputs that reach it through Affine, Linear, Scale, Input and Output
    nodes; a coupling from a node to one at or before it in the flow order (a loop's back
    edge) arrives one step later. With `K_same` and `K_back` those couplings,
    `J = (1 - K_same)^-1 (A + K_back)`.

    Parameters
    ----------
    graph, dt, discretization, library
        As in ``from_nir``.

    Returns
    -------
    dict
        ``"jacobian"`` (D, D) over the states of the neuron nodes; ``"blocks"``, one
        ``(node, start, stop)`` per neuron node (its rows); ``"on_cycle"``, the neuron nodes on
        a cycle; ``"nodes_on_cycle"``, every node on a cycle (weight nodes too), sorted.

    Raises
    ------
    ValueError
        When a loop passes through a node the linear analysis does not cover, or when D is
        above ``MAX_NETWORK_STATES``.
    """
    g = read_graph(graph)
    models = from_nir(g, dt, discretization, library=library)
    nodes, edges = _flatten(g)
    return _network_jacobian(models, nodes, edges, _on_cycles(list(nodes), edges))


def _network_jacobian(
    models: dict[str, NeuronModel],
    nodes: dict[str, Any],
    edges: list[tuple[str, str]],
    cyc: set[str],
) -> dict[str, Any]:
    """``network_jacobian`` of the graph's neuron records, its flattened nodes and edges
    (``_flatten``) and the nodes on a cycle (``_on_cycles``)."""
    pos = {n: i for i, n in enumerate(models)}
    blocks = []
    start = 0
    A_parts, b_parts, c_parts, widths = [], [], [], {}
    for name, model in models.items():
        J = subthreshold_jacobian(model)
        b = input_vector(model)
        k = len(model.state_names)
        J = J.reshape(-1, k, k)
        b = b.reshape(-1, k)
        N = J.shape[0]
        widths[name] = N
        blocks.append((name, start, start + N * k))
        A_parts.append(J)
        b_parts.append(b)
        c = np.zeros(k)
        if getattr(model, "v_th", 1.0) is None:  # LI, CubaLI, I: the output is v
            c[list(model.state_names).index("v")] = 1.0
        c_parts.append(c)
        start += N * k
    D = start
    if D > MAX_NETWORK_STATES:
        raise ValueError(
            f"the network has {D} states; its block Jacobian is computed up to "
            f"{MAX_NETWORK_STATES} (eigenvalues of a D x D matrix)"
        )
    A = np.zeros((D, D))
    Bm = np.zeros((D, D))  # per block: states x inputs (N inputs per node, stored in D frame)
    C = np.zeros((D, D))
    for (_, s0, _), J, b, c in zip(blocks, A_parts, b_parts, c_parts, strict=True):
        N, k = J.shape[0], J.shape[-1]
        for j in range(N):
            sl = slice(s0 + j * k, s0 + (j + 1) * k)
            A[sl, sl] = J[j]
            Bm[sl, s0 + j] = b[j]  # input of neuron j of this node, at column s0 + j
            C[s0 + j, sl] = c  # output of neuron j of this node, at row s0 + j
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    K_same = np.zeros((D, D))
    K_back = np.zeros((D, D))
    starts = {name: s0 for name, s0, _ in blocks}
    for src in models:
        N_src = widths[src]
        # propagate the identity of the source's outputs through instantaneous nodes
        frontier = [(nxt, np.eye(N_src), (src,)) for nxt in succ[src]]
        while frontier:
            node_name, M, path = frontier.pop()
            if node_name in models:
                N_dst = widths[node_name]
                if M.shape[0] != N_dst:
                    raise ValueError(
                        f"the path {' -> '.join((*path, node_name))} delivers {M.shape[0]} "
                        f"values to node {node_name!r}, which has {N_dst} neurons"
                    )
                target = K_back if pos[src] >= pos[node_name] else K_same
                d0, s0 = starts[node_name], starts[src]
                target[d0 : d0 + N_dst, s0 : s0 + N_src] += M
                continue
            if node_name in path:
                raise ValueError(
                    f"an instantaneous loop through {' -> '.join((*path, node_name))} (no "
                    "neuron on it: NIR defines no delay there)"
                )
            W = _linear_map(node_name, nodes[node_name])
            if W is not None:
                if W.shape[1] != M.shape[0]:
                    raise ValueError(
                        f"node {node_name!r} takes {W.shape[1]} inputs but the path "
                        f"{' -> '.join(path)} gives {M.shape[0]}"
                    )
                M = W @ M
            for nxt in succ[node_name]:
                frontier.append((nxt, M, (*path, node_name)))
    # the couplings sit in "input rows / output columns" of the D frame: map them through C, B
    Ks = Bm @ K_same @ C
    Kb = Bm @ K_back @ C
    Jnet = np.linalg.solve(np.eye(D) - Ks, A + Kb)
    neuron_on_cycle = [n for n in models if n in cyc]
    return {
        "jacobian": Jnet,
        "blocks": blocks,
        "on_cycle": neuron_on_cycle,
        "nodes_on_cycle": sorted(cyc),
    }


def _network_report(
    g: Any, models: dict[str, NeuronModel], kmax: int, decades: float
) -> dict[str, Any] | None:
    """The whole network's part of ``nir_report``: None without a cycle."""
    nodes, edges = _flatten(g)
    cyc = _on_cycles(list(nodes), edges)
    if not cyc:
        return None
    try:
        net = _network_jacobian(models, nodes, edges, cyc)
    except ValueError as err:
        return {"nodes_on_cycle": sorted(cyc), "error": str(err)}
    J = net["jacobian"]
    D = J.shape[0]
    lam = np.linalg.eigvals(J) if D else np.zeros(0)
    radius = float(np.max(np.abs(lam))) if D else 0.0
    out: dict[str, Any] = {
        "nodes_on_cycle": net["nodes_on_cycle"],
        "neuron_nodes_on_cycle": net["on_cycle"],
        "states": D,
        "spectral_radius": radius,
        "class": str(_classify_matrix(J[None])[0]) if D else "decaying",
        "memory_horizon": (
            -1.0 / math.log(radius) if 0 < radius < 1 else (0.0 if radius == 0 else math.inf)
        ),
    }
    if D <= MAX_REACH_STATES:
        out["gradient_reach"] = gradient_reach(J, kmax=kmax, decades=decades)
    else:
        out["gradient_reach"] = None
        out["reach_note"] = (
            f"{D} states: the reach takes kmax products of D x D matrices and is computed up "
            f"to {MAX_REACH_STATES} states"
        )
    return out


def nir_report(
    graph: Any,
    dt: float | None = None,
    discretization: str | None = None,
    kmax: int = 10000,
    decades: float = 3.0,
    *,
    library: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The gradient analysis of every neuron node of a NIR graph (JSON-ready).

    Parameters
    ----------
    graph, dt, discretization, library
        As in ``from_nir``.
    kmax : int
        The largest power of `J` the gradient reach looks at.
    decades : float
        The reach's bound, `||J^k||_2 <= 10^-decades`.
    progress : callable, optional
        Receives a line every few seconds of a long report.

    Returns
    -------
    dict
        ``{"dt", "discretization", "library", "kmax", "decades", "nodes", "other_nodes",
        "network", "warnings"}``. Each entry of ``nodes``: name, NIR type, registered model,
        neurons, and ``groups``, one per distinct parameter set: neurons, params, state names,
        jacobian, eigenvalues (``[re, im]``), spectral radius, class, period, memory horizon
        (steps), gradient reach (steps) and scheme notes. ``network`` is None for a graph
        without cycles; otherwise the nodes on a cycle and the spectral radius, class, memory
        horizon and reach of the whole network's block Jacobian (``network_jacobian``).

    Raises
    ------
    ValueError
        When the work (distinct parameter sets of two-state nodes x ``kmax``) is above
        ``MAX_REPORT_WORK``; for bad arguments or a damaged file.
    """
    _check_decades(decades)
    if isinstance(kmax, bool) or not isinstance(kmax, (int, np.integer)) or kmax < 1:
        raise ValueError(f"kmax must be an integer >= 1, got {kmax!r}")
    dt, disc, preset = _resolve(dt, discretization, library)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = read_graph(graph)
    notes = [str(w.message) for w in caught]
    models = from_nir(g, dt, disc, library=preset.library if preset else None)
    other: dict[str, int] = {}
    by_name = dict(_neuron_nodes(g))
    for name, node in by_name.items():
        if name not in models:
            other[type(node).__name__] = other.get(type(node).__name__, 0) + 1
    sets = {name: _parameter_sets(m) for name, m in models.items()}
    counts = {name: len(s[1]) for name, s in sets.items()}
    # one-state nodes have a closed-form reach; the others take at most kmax sweep steps each
    swept = sum(c for name, c in counts.items() if len(models[name].state_names) > 1)
    work = swept * kmax
    seconds = work / SWEEP_RATE
    if work > MAX_REPORT_WORK:
        raise ValueError(
            f"{swept} distinct parameter sets of two-state nodes x kmax {kmax} = {work:.3g} "
            f"steps of the power sweep is above the limit {MAX_REPORT_WORK:.3g} (at most about "
            f"{seconds / 60:.3g} min); lower --kmax"
        )
    if progress is not None and seconds > 10:
        progress(
            f"{sum(counts.values())} parameter sets ({swept} of two-state nodes): at most about "
            f"{seconds:.0f} s"
        )
    nodes = []
    t0 = time.monotonic()
    last = t0
    done = 0
    total = sum(counts.values())
    for name, model in models.items():
        n, groups = _analyse_node(model, kmax, decades, sets[name], progress)
        done += counts[name]
        now = time.monotonic()
        if progress is not None and now - last > 5.0 and done < total:
            rate = done / (now - t0)
            progress(
                f"{done} of {total} parameter sets analysed, about "
                f"{(total - done) / rate:.0f} s left"
            )
            last = now
        nodes.append(
            {
                "node": name,
                "nir_type": type(by_name[name]).__name__,
                "model": type(model).name,
                "neurons": n,
                "groups": groups,
            }
        )
    network = _network_report(g, models, kmax, decades)
    return {
        "dt": float(dt),
        "discretization": disc,
        "library": preset.library if preset else None,
        "kmax": int(kmax),
        "decades": float(decades),
        "nodes": nodes,
        "other_nodes": other,
        "network": network,
        "warnings": notes,
    }


# ----------------------------------------------------------------------------- command line


def add_nir_arguments(parser: argparse.ArgumentParser) -> None:
    """``--nir FILE --dt DT --discretization SCHEME | --as LIB --reach-decades D``."""
    group = parser.add_argument_group("NIR graphs (instead of MODEL)")
    group.add_argument(
        "--nir", metavar="FILE", default=None, help="analyse every neuron node of a NIR file"
    )
    group.add_argument(
        "--dt",
        type=float,
        default=None,
        help="time step, in the unit of the graph's tau (with --as: the library's own dt)",
    )
    group.add_argument(
        "--discretization",
        choices=DISCRETIZATIONS,
        default=None,
        help="exact: the matrix exponential of the ODE (the default); euler: forward Euler; "
        "snntorch, norse, spikingjelly: that library's update",
    )
    group.add_argument(
        "--as",
        dest="library",
        choices=tuple(PRESETS),
        default=None,
        help="read the file as the library that wrote it meant it: its update, its dt "
        "(snntorch, spikingjelly 1e-4; norse 1e-3) and its time-constant convention",
    )
    group.add_argument(
        "--reach-decades",
        type=float,
        default=3.0,
        help="gradient reach: steps until ||J^k||_2 falls below 10^-D",
    )


def _fmt(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else ("inf" if x > 0 else "nan")


def _steps(reach: Any, kmax: int) -> str:
    if reach is None:
        return "not computed"
    return f"{int(reach)} steps" if math.isfinite(reach) else f"> {kmax} steps"


def run_nir(args: argparse.Namespace) -> int:
    """``lstmlif inspect --nir FILE --dt DT``: the report as text, or JSON with ``--json``;
    warnings (a failed type check) and progress go to stderr."""
    if getattr(args, "model", None):
        raise ValueError("give either MODEL or --nir FILE, not both")
    for option, given in (
        ("--param", bool(getattr(args, "param", None))),
        ("--logits", getattr(args, "logits", None) is not None),
        ("--convention", getattr(args, "convention", None) is not None),
    ):
        if given:
            raise ValueError(
                f"{option} applies to a registered MODEL, not to --nir (a NIR graph's "
                "parameters come from its file)"
            )
    if args.dt is None and args.library is None:
        raise ValueError(
            "--nir needs --dt (the time step, in the unit of the graph's tau) or --as LIB"
        )
    if args.kmax < 1:
        raise ValueError(f"--kmax must be >= 1, got {args.kmax}")

    def progress(line: str) -> None:
        print(f"lstmlif inspect: {line}", file=sys.stderr, flush=True)

    rep = nir_report(
        args.nir,
        args.dt,
        args.discretization,
        args.kmax,
        args.reach_decades,
        library=args.library,
        progress=progress,
    )
    for note in rep["warnings"]:
        print(f"lstmlif inspect: warning: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(jsonable(rep), indent=2))
        return 0
    print("\n".join(_report_lines(args.nir, rep)))
    return 0


_SCHEME_TEXT = {
    "exact": "exact: the matrix exponential of each node's ODE, a = exp(-dt/tau)",
    "euler": "forward Euler, every right-hand side at the previous state, a = 1 - dt/tau",
    "snntorch": "snntorch's update: a = 1 - dt/tau, the membrane reads the new current",
    "spikingjelly": "spikingjelly's update: a = 1 - dt/tau, the membrane reads the new current",
    "norse": "norse's update: a = 1 - dt/tau, the input jumps the current before the membrane "
    "reads it",
}


def _report_lines(path: str, rep: dict[str, Any]) -> list[str]:
    other = ", ".join(f"{k} x{v}" for k, v in rep["other_nodes"].items()) or "none"
    lib = f", as {rep['library']} wrote it" if rep["library"] else ""
    lines = [
        f"NIR graph {path}: dt = {_fmt(rep['dt'])}{lib}; {_SCHEME_TEXT[rep['discretization']]}",
        f"{len(rep['nodes'])} neuron node(s); other nodes: {other}",
    ]
    if rep["library"]:
        lines.append(f"convention: {PRESETS[rep['library']].convention}")
    if not rep["nodes"]:
        lines.append("no LIF, CubaLIF, LI, CubaLI, IF or I node in this graph")
    net = rep["network"]
    on_cycle = set(net["nodes_on_cycle"]) if net else set()
    for node in rep["nodes"]:
        lines.append("")
        loop = " (on a cycle)" if node["node"] in on_cycle else ""
        lines.append(
            f"node {node['node']}{loop}: NIR {node['nir_type']} -> {node['model']}, "
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
            lines += _horizon_lines(g, rep)
            lines += [f"  {note}" for note in g["scheme_notes"]]
    lines.append("")
    if net is None:
        lines.append("network: no cycle (a feed-forward graph): the node-by-node view is complete")
    else:
        lines.append(f"network: recurrent; nodes on a cycle: {', '.join(net['nodes_on_cycle'])}")
        if "error" in net:
            lines.append(f"  network Jacobian not computed: {net['error']}")
        else:
            lines.append(
                f"  block Jacobian of the whole recurrence ({net['states']} states, spikes held "
                f"at 0 below threshold): spectral radius {net['spectral_radius']:.10f} "
                f"({net['class']})"
            )
            lines += _horizon_lines(net, rep)
    return lines


def _horizon_lines(part: dict[str, Any], rep: dict[str, Any]) -> list[str]:
    """The memory horizon and gradient reach lines of a node's group or of the network."""
    mh = part["memory_horizon"]
    note = f" ({part['reach_note']})" if part.get("reach_note") else ""
    return [
        "  memory horizon -1/ln rho: " + (f"{mh:.4f} steps" if math.isfinite(mh) else "inf"),
        f"  gradient reach (||J^k||_2 <= 10^-{_fmt(rep['decades'])}): "
        + _steps(part["gradient_reach"], rep["kmax"])
        + note,
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif inspect MODEL ...`` (``stability``) or ``lstmlif inspect --nir FILE ...``."""
    stability.add_arguments(parser)
    add_nir_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """``lstmlif inspect``: a NIR file with ``--nir``, else a registered model (``stability``)."""
    if getattr(args, "nir", None) is not None:
        return run_nir(args)
    if args.model is None:
        raise ValueError("give a registered MODEL, or --nir FILE --dt DT for a NIR graph")
    return stability.run(args)
