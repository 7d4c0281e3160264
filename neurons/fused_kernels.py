"""The fused kernels' sources, generated from the step function and compiled by numba.

``backward="fused"`` of the layers. For any registered model, the step's expressions
(``neurons.derivatives.kernel_expressions``: the new state as the step writes it, and the
evaluated partial derivatives) are printed as Python source with in-place updates, written to a
file in a cache folder and compiled with numba (``cache=True``: later processes load the
machine code from disk). Both kernels step through time in the outer loop and, at each step,
walk the batch (flattened to M = B*N lanes) in chunks of ``CHUNK`` lanes: the innermost loop
has a constant trip count, which LLVM vectorises (``vector_report`` reads the generated
assembly), and every row of a (T, M) array is read or written in one sweep. On CPU the lanes
are split at chunk boundaries into one range per thread (``torch.get_num_threads()``, so
``torch.set_num_threads`` governs this path as it does torch's; ``lane_threads``), each range
run by the same compiled kernel on its own thread (the kernels release the GIL): every lane
takes the same instructions whatever the split, so results are bit-identical for every thread
count. The first one or
two steps run a copy of the lane loop that chooses per lane between the segment's initial
values and values from earlier rows; the others run one without those choices. Exponentials
are a polynomial that vectorises (``vector_exp``), not libm calls.

Forward: x[t] = F(x[t-1], S[t-1], I[t]), S[t] = H(z), printed from the step's expression tree as
written (not re-ordered by SymPy), every constant cast to the kernel's dtype, so float32 runs
round like the torch forward. Backward, t = T-1..0, per lane (the adjoint of docs/theory.md):

    Sbar = dL/dS[t] + cS,  lam = dL/dx[t] + cx + zx psi(z[t]) Sbar,
    dL/dI[t] = dI . lam,  acc_c += dc . lam + zc psi Sbar,  cx = dx^T lam,  cS = dS . lam,

with the partials evaluated at (x[t-1], S[t-1], I[t], S[t], psi[t]). The coefficient record's
tensors (alpha = exp(-dt/tau_m)...) are the autograd inputs; their per-lane accumulators are
summed in float64 and autograd chains them on to the raw parameters (logits, log tau).

This module prints and compiles the kernels and holds what the CPU autograd Function
(``neurons.fused``) and the CUDA one (``neurons.fused_cuda``) share: the plan, the storage
choice, buffers and the forward's and backward's common ends. Both of those modules import
this one; it imports neither (imports run one way).
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import math
import mmap
import os
import sys
import tempfile
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
import torch

from .base import NeuronModel
from .derivatives import CURRENT, PSI_NEW, S_NEW, S_PREV, KernelExpressions
from .exact import one_thread
from .mathspace import SYMPY_MATH
from .ops import Spike, StopGradient

__all__ = [
    "CHUNK",
    "STORES",
    "backward_source",
    "cache_dir",
    "compile_kernel",
    "emit_expressions",
    "forward_source",
    "kernel_header",
    "vector_exp",
]

CHUNK = 256
"""Lanes per chunk: the constant trip count of the innermost (vectorised) loop."""

STORES = ("min", "all")

_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


# ----------------------------------------------------------------------------- printing


class _Emitter:
    """Prints SymPy expressions as numba statements, one temporary per compound node
    (structurally equal nodes share one). ``names`` maps symbols to code; numbers are cast to
    the kernel dtype ``DT``."""

    def __init__(self, lines: list[str], counter: itertools.count, names: dict, indent: str):
        self.lines, self.counter, self.names, self.indent = lines, counter, names, indent
        self.memo: dict[sp.Basic, str] = {}

    def _tmp(self, code: str) -> str:
        name = f"t{next(self.counter)}"
        self.lines.append(f"{self.indent}{name} = {code}")
        return name

    def const(self, value: Any) -> str:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"fused: the step contains a non-finite constant {value}")
        return f"DT({v!r})"

    def __call__(self, e: Any) -> str:
        e = sp.sympify(e)
        if e in self.memo:
            return self.memo[e]
        code = self._print(e)
        self.memo[e] = code
        return code

    def _print(self, e: sp.Basic) -> str:
        if e in self.names:
            return self.names[e]
        if isinstance(e, sp.Symbol):
            raise ValueError(f"fused: unexpected symbol {e} in a step expression")
        if e.is_Number or isinstance(e, sp.NumberSymbol):
            return self.const(e)
        if isinstance(e, sp.Add):
            args = list(e.args)
            acc = self(args[0])
            for a in args[1:]:
                if isinstance(a, sp.Mul) and a.args and a.args[0] == -1:
                    rest = sp.Mul(*a.args[1:], evaluate=False) if len(a.args) > 2 else a.args[1]
                    acc = self._tmp(f"{acc} - {self(rest)}")
                else:
                    acc = self._tmp(f"{acc} + {self(a)}")
            return acc
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow):
            return self._pow(e.base, e.exp)
        if isinstance(e, StopGradient):
            return self(e.args[0])
        if isinstance(e, Spike):
            return self._tmp(f"one if {self(e.args[0])} >= zero else zero")
        if isinstance(e, sp.Heaviside):
            h0 = e.args[1] if len(e.args) > 1 else sp.Rational(1, 2)
            x = self(e.args[0])
            return self._tmp(f"one if {x} > zero else (zero if {x} < zero else {self.const(h0)})")
        if isinstance(e, sp.Abs):
            return self._tmp(f"abs({self(e.args[0])})")
        if isinstance(e, sp.sign):
            x = self(e.args[0])
            return self._tmp(f"one if {x} > zero else (-one if {x} < zero else zero)")
        if isinstance(e, sp.Max | sp.Min):
            fn = "max" if isinstance(e, sp.Max) else "min"
            acc = self(e.args[0])
            for a in e.args[1:]:
                acc = self._tmp(f"{fn}({acc}, {self(a)})")
            return acc
        for cls, fn in _FUNCTIONS:
            if isinstance(e, cls):
                return self._tmp(f"{fn}({', '.join(self(a) for a in e.args)})")
        raise ValueError(
            f"fused: cannot print {type(e).__name__} ({e}) of a step into a kernel; "
            "use backward='exact' for this model"
        )

    def _mul(self, e: sp.Mul) -> str:
        sign, coef, num, den = 1, None, [], []
        for a in e.args:
            if a == -1:
                sign = -sign
            elif a.is_Number:
                coef = a if coef is None else coef * a
            elif isinstance(a, sp.Pow) and a.exp.is_Integer and a.exp < 0:
                den.append(a.base if a.exp == -1 else sp.Pow(a.base, -a.exp, evaluate=False))
            else:
                num.append(a)
        if coef is not None and coef.is_Rational and not coef.is_Integer and coef.p in (1, -1):
            if coef.p == -1:
                sign = -sign
            den.insert(0, sp.Integer(coef.q))
            coef = None
        parts = ([self.const(coef)] if coef is not None else []) + [self(a) for a in num]
        acc = parts[0] if parts else "one"
        for p in parts[1:]:
            acc = self._tmp(f"{acc} * {p}")
        for d in den:
            acc = self._tmp(f"{acc} / {self(d)}")
        if sign < 0:
            acc = self._tmp(f"-{acc}")
        return acc

    def _pow(self, base: Any, exp: Any) -> str:
        b = self(base)
        if exp.is_Integer:
            n = int(exp)
            if n == 0:
                return "one"
            acc = b
            for _ in range(abs(n) - 1):
                acc = self._tmp(f"{acc} * {b}")
            return self._tmp(f"one / {acc}") if n < 0 else acc
        if exp == sp.Rational(1, 2):
            return self._tmp(f"math.sqrt({b})")
        if exp == sp.Rational(-1, 2):
            return self._tmp(f"one / math.sqrt({b})")
        return self._tmp(f"{b} ** {self(exp)}")


_FUNCTIONS = (
    (sp.exp, "vexp"),
    (sp.log, "math.log"),
    (sp.tanh, "math.tanh"),
    (sp.sin, "math.sin"),
    (sp.cos, "math.cos"),
    (sp.atan, "math.atan"),
    (sp.erf, "math.erf"),
)


def _cse_emit(em: _Emitter, exprs: list[sp.Expr]) -> list[str]:
    """Print several evaluated expressions after common-subexpression elimination."""
    if not exprs:
        return []
    reps, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_cse"), optimizations="basic")
    for sym, value in reps:
        em.names[sym] = em(value)
    return [em(r) for r in reduced]


def emit_expressions(
    exprs: list[Any], names: dict[sp.Symbol, str], indent: str, counter: Any = None
) -> tuple[list[str], list[str]]:
    """(lines, codes): numba statements that compute the SymPy expressions ``exprs`` (common
    subexpressions once, every number cast to the kernel dtype ``DT``), printed by the same
    printer as the fused kernels, and the code of each value. ``names`` maps each symbol the
    expressions read to its code; ``counter`` (an ``itertools.count``) numbers the temporaries
    ``t<k>``, so that several calls into one kernel share it."""
    lines: list[str] = []
    em = _Emitter(lines, counter if counter is not None else itertools.count(), dict(names), indent)
    codes = _cse_emit(em, [sp.sympify(e) for e in exprs])
    return lines, codes


def kernel_header(who: str, what: str, dtype: str) -> str:
    """The head of a generated CPU kernel's source in ``dtype`` ("float32" or "float64"): the
    imports, ``DT``, the vectorising ``vexp``, and the ``njit`` decorator (cached, no GIL) that
    the ``def kernel(...)`` following it gets."""
    return _CPU.header(who, what, dtype)


def compile_kernel(source: str) -> Any:
    """The ``kernel`` of a generated source (see ``kernel_header``), compiled by numba under
    ``LLVM_OPTIONS``, the source written once to ``cache_dir()`` (named by its hash) and the
    machine code cached beside it."""
    return _compile(source)


# ----------------------------------------------------------------------------- kernel specs


@dataclass(frozen=True)
class _Spec:
    """Everything the generated source depends on (and nothing else)."""

    K: KernelExpressions
    lane: tuple[bool, ...]  # per coefficient: a (M,) array (True) or one number
    stored: tuple[str, ...]
    recovery: tuple[tuple[str, sp.Expr], ...]
    current: str  # backward: "none" | "read" (kept current) | "formula" (recovered)
    grads: tuple[str, ...]  # coefficients whose gradient is accumulated
    has_gS: bool | str  # dL/dS: True (L, M) rows, "scalar" one number for all (gS (1, 1)), False
    gx: tuple[str, ...]  # states with an output gradient
    psi: sp.Expr | None  # the surrogate's psi in the symbol Z
    spikes_from_states: bool = False  # backward: S = H(z(x)) from stored states, S not read
    recurrent: bool = False  # CPU: I[t] = cur[t] + W S[t-1] over one lane range (fused_recurrent)


_Z = sp.Symbol("Z", real=True)

#: LLVM options in force when a kernel compiles. A backward's inner loop reads and writes up to
#: about thirty lane arrays that numba cannot prove distinct; beyond 8 runtime alias checks
#: (LLVM's default) the loop vectoriser gives up and the loop runs scalar: a catalogue model's
#: backward (per-neuron coefficients and parameter accumulators) took 6x longer. The checks are
#: still made at run time; only the vectoriser's budget for them is raised.
LLVM_OPTIONS = ("-vectorize-memory-check-threshold=4096", "-runtime-memory-check-threshold=4096")

_CUDA_HEADER = '''"""Generated by lstmlif.neurons.fused for {who} ({what}, CUDA); do not edit."""
import math

import numpy as np
from numba import cuda

DT = np.{dtype}


@cuda.jit(device=True)
def vexp(x):
    return math.exp(x)


@cuda.jit
'''


@dataclass(frozen=True)
class _Target:
    """Where a generated kernel runs. "cpu": numba njit, the lanes in vectorised chunks, every
    per-lane value that lives across steps in a lane array (``name[j]``); "cuda": numba.cuda,
    one thread per lane (j = cuda.grid(1)), those values in registers (``name``)."""

    name: str = "cpu"

    @property
    def cuda(self) -> bool:
        return self.name == "cuda"

    def lane(self, array: str) -> str:
        return array if self.cuda else f"{array}[j]"

    def header(self, who: str, what: str, dtype: str) -> str:
        if self.cuda:
            return _CUDA_HEADER.format(who=who, what=what, dtype=dtype)
        return _HEADER.format(
            who=who, what=what, dtype=dtype, chunk=CHUNK, llvm=_LLVM, vexp=_VEXP[dtype]
        )

    def signature(self, args: list) -> list[str]:
        """``def kernel(j0, j1, ...)`` on CPU (lanes j0 <= j < j1, both multiples of CH and
        unsigned), ``def kernel(j1, ...)`` on CUDA (the lanes past j1 return at once); a
        (tuple name, element names) argument is one tuple on CPU and its elements on CUDA."""
        flat = []
        for a in args:
            if isinstance(a, tuple):
                flat += a[1] if self.cuda else [a[0]]
            else:
                flat.append(a)
        lanes = ["j1"] if self.cuda else ["j0", "j1"]
        lines = [f"def kernel({', '.join([*lanes, *flat])}):"]
        if self.cuda:
            lines += ["    j = cuda.grid(1)", "    if j >= j1:", "        return"]
        return lines

    def per_lane(self, lines: list[str]) -> list[str]:
        """Kernel-level lines run once per lane (initial and final values)."""
        if self.cuda:
            return ["    " + x for x in lines]
        return ["    for j in range(j0, j1):", *("        " + x for x in lines)] if lines else []


_CPU = _Target("cpu")


_HEADER = '''"""Generated by lstmlif.neurons.fused for {who} ({what}); do not edit."""
# compiled with LLVM options {llvm}
import math

import numpy as np
from numba import njit

DT = np.{dtype}
CH = {chunk}
CHU = np.uint64({chunk})
{vexp}

@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
'''


#: The exponential the kernels call, per dtype (printed into every generated source, so a change
#: here recompiles them). ``math.exp`` compiles to one libm call per lane, which LLVM cannot
#: vectorise without a vector maths library (this llvmlite has none: CLIF's fused path, four
#: exponentials per step in its backward, was only 1.66x faster than autograd); this one is
#: arithmetic that vectorises.
#: e^x = 2^k e^r with k = round(x / ln 2) and r = x - k ln 2 (ln 2 in two parts, the first
#: with trailing zero bits so that k * hi is exact), |r| <= ln(2) / 2;
#: e^r = 1 + (r + r^2 q(r)) with q the Taylor series after its second term, to degree 13 in
#: float64 and 7 in float32 (truncation below 0.05 and 0.1 ulp); 2^k from the exponent bits,
#: in two factors so that subnormal results and 2^1024 are reached. Error below 1 ulp of the
#: exact e^x (faithful rounding) over the whole range; inf, 0 and NaN as e^x has them
#: (tests/test_fused.py).
_VEXP = {
    "float64": """
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


@njit(inline="always")
def vexp(x):
    xc = min(max(x, -746.0), 710.0)
    k = np.floor(xc * 1.4426950408889634 + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    q = 1.0 / 6227020800.0
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 1.0 / 2.0
    p = 1.0 + (r + r * r * q)
    ki = np.int64(k)
    h = ki >> 1
    s1 = np.int64((h + 1023) << 52).view(np.float64)
    s2 = np.int64((ki - h + 1023) << 52).view(np.float64)
    y = p * s1 * s2
    return y if x == x else x
""",
    "float32": """
_F = np.float32
_LN2_HI = _F(0.693145751953125)
_LN2_LO = _F(1.428606765330187e-06)


@njit(inline="always")
def vexp(x):
    xc = min(max(x, _F(-104.0)), _F(89.0))
    k = np.floor(xc * _F(1.4426950408889634) + _F(0.5))
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    q = _F(1.0 / 5040.0)
    q = q * r + _F(1.0 / 720.0)
    q = q * r + _F(1.0 / 120.0)
    q = q * r + _F(1.0 / 24.0)
    q = q * r + _F(1.0 / 6.0)
    q = q * r + _F(1.0 / 2.0)
    p = _F(1.0) + (r + r * r * q)
    ki = np.int32(k)
    h = ki >> 1
    s1 = np.int32((h + 127) << 23).view(np.float32)
    s2 = np.int32((ki - h + 127) << 23).view(np.float32)
    y = p * s1 * s2
    return y if x == x else x
""",
}


def vector_exp(values: np.ndarray) -> np.ndarray:
    """The fused kernels' exponential (``_VEXP``) applied elementwise to a float32 or float64
    array of any shape, in a loop compiled like the kernels' inner loops (for checks)."""
    a = np.asarray(values)
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"vector_exp: values must be float32 or float64, got {a.dtype}")
    fn = _exp_loop(a.dtype.name)
    out = np.empty_like(a)
    fn(np.ascontiguousarray(a).reshape(-1), out.reshape(-1))
    return out


def _exp_loop(dtype: str) -> Any:
    hit = _EXP_LOOPS.get(dtype)
    if hit is None:
        src = (
            f"import math\n\nimport numpy as np\nfrom numba import njit\n\nDT = np.{dtype}\n"
            f"{_VEXP[dtype]}\n\n@njit(boundscheck=False, error_model='numpy')\n"
            "def kernel(a, out):\n    for j in range(a.shape[0]):\n        out[j] = vexp(a[j])\n"
        )
        namespace: dict[str, Any] = {}
        exec(compile(src, f"<lstmlif.neurons.fused vexp {dtype}>", "exec"), namespace)
        hit = _EXP_LOOPS[dtype] = namespace["kernel"]
    return hit


_EXP_LOOPS: dict[str, Any] = {}


def _coef_lines(spec: _Spec, indent: str, target: _Target = _CPU) -> tuple[list[str], dict]:
    """Kernel-top lines binding scalar coefficients and lane arrays (on CUDA the lane arrays
    are arguments); the symbol table for the scalars (lane coefficients are bound per lane in
    the body)."""
    lines, names = [], {}
    si = li = 0
    for k, lane in zip(spec.K.coef_names, spec.lane, strict=True):
        q = spec.K.coef_names.index(k)
        if lane:
            if not target.cuda:
                lines.append(f"{indent}cv_{q} = cv[{li}]")
            li += 1
        else:
            lines.append(f"{indent}c_{q} = cs[{si}]")
            names[sp.Symbol(k, real=True)] = f"c_{q}"
            si += 1
    return lines, names


def _lane_names(spec: _Spec) -> list[str]:
    """The lane-coefficient arrays' names, in the order of ``cv``."""
    return [f"cv_{q}" for q, lane in enumerate(spec.lane) if lane]


def _lane_coefs(spec: _Spec, indent: str) -> tuple[list[str], dict]:
    lines, names = [], {}
    for q, (k, lane) in enumerate(zip(spec.K.coef_names, spec.lane, strict=True)):
        if lane:
            lines.append(f"{indent}c_{q} = cv_{q}[j]")
            names[sp.Symbol(k, real=True)] = f"c_{q}"
    return lines, names


def forward_source(spec: _Spec, dtype: str, who: str, target: _Target = _CPU) -> str:
    """The forward kernel: kernel(j1, cur (L, M), cs, cv, x0 (n, M), S0 (M),
    spikes (L, M) out, keep (tuple of (L, M) out: the stored states), x_end (n, M) out,
    chk (M) out: NaN where an input was NaN or infinite (chk[0] on CPU, chk[j] on CUDA)),
    over the lanes j < j1. On CPU the kernel takes kernel(j0, j1, ...), the lanes j0 <= j < j1,
    both multiples of CH and passed as ``np.uint64``: unsigned lane indices, which LLVM knows
    to be non-negative (numba wraps signed ones around, and a wrap-around check per access
    kept the loop from vectorising: 4-5x slower); on CUDA the tuples cv and keep are passed as
    their elements."""
    K = spec.K
    n = len(K.state_names)
    lane = target.lane
    out = [target.header(who, "forward", dtype)]
    keep_names = [f"keep_{q}" for q in range(len(spec.stored))]
    out += target.signature(
        [
            "cur",
            "cs",
            ("cv", _lane_names(spec)),
            "x0",
            "S0",
            "spikes",
            ("keep", keep_names),
            "x_end",
            "chk",
            *(["wr", "MR"] if spec.recurrent else []),
        ]
    )
    ind, i2 = "    ", " " * 8
    bi = i2 if target.cuda else " " * 16  # the body's indentation
    out += [f"{ind}L = spikes.shape[0]", f"{ind}M = spikes.shape[1]"]
    out += [f"{ind}zero = DT(0.0)", f"{ind}one = DT(1.0)"]
    top, scal = _coef_lines(spec, ind, target)
    out += top
    if not target.cuda:
        out += [f"{ind}{k} = keep[{q}]" for q, k in enumerate(keep_names)]
    # S[t-1] is recomputed from the carried states (bit for bit: the same operations on the same
    # values) where the spike is a function of the new states; else carried in st_S
    from_states = K.spike_from_state
    carried = [f"st_{i}" for i in range(n)] + ([] if from_states else ["st_S"])
    if not target.cuda:
        out += [f"{ind}{a} = np.empty(M, DT)" for a in carried]
    init = [f"{lane(f'st_{i}')} = x0[{i}, j]" for i in range(n)]
    if not from_states:
        init.append(f"{lane('st_S')} = S0[j]")
    out += target.per_lane(init)
    out.append(f"{ind}bad = False")
    out += _recurrent_top(spec, target, ind)
    out.append(f"{ind}for r in range(L):")
    if spec.recurrent:
        out += _recurrent_forward(i2)
    body = [] if target.cuda else [f"{bi}j = c0 + jj"]
    fast: dict[int, str] = {}
    counter = itertools.count()
    lc, lane_names = _lane_coefs(spec, bi)
    body += lc
    names = {**scal, **lane_names}
    for i, nm in enumerate(K.state_names):
        body.append(f"{bi}x_{i} = {lane(f'st_{i}')}")
        names[sp.Symbol(nm, real=True)] = f"x_{i}"
    if from_states:
        lines: list[str] = []
        code = _Emitter(lines, counter, dict(names), bi)(Spike(K.z_written))
        fast[len(body)] = "\n".join([*lines, f"{bi}S_prev = {code}"])
        if target.cuda:
            body += lines
            body.append(f"{bi}S_prev = S0[j] if r == 0 else {code}")
        else:
            body.append(f"{bi}S_prev = S0[j]")
    else:
        body.append(f"{bi}S_prev = {lane('st_S')}")
    names[S_PREV] = "S_prev"
    body.append(f"{bi}I_t = cur[r, j]")
    # I - I is NaN for NaN and infinite I: a boolean or-reduction, which vectorises at full
    # width (an integer one is typed int64 by numba and halves the float32 vector width)
    body.append(f"{bi}bad |= I_t - I_t != zero")
    names[CURRENT] = "I_t"
    em = _Emitter(body, counter, names, bi)
    new = [em(K.forward[nm]) for nm in K.state_names]
    S_new = em(K.spike)
    body.append(f"{bi}spikes[r, j] = {S_new}")
    for q, nm in enumerate(spec.stored):
        body.append(f"{bi}keep_{q}[r, j] = {new[K.state_names.index(nm)]}")
    for i in range(n):
        body.append(f"{bi}{lane(f'st_{i}')} = {new[i]}")
    if not from_states:
        body.append(f"{bi}{lane('st_S')} = {S_new}")
    out += body if target.cuda else _peeled(body, fast, 1, i2)
    out.append(f"{ind}if bad:")
    out.append(f"{i2}chk[{'j' if target.cuda else 0}] = DT(np.nan)")
    out += target.per_lane([f"x_end[{i}, j] = {lane(f'st_{i}')}" for i in range(n)])
    return "\n".join(out) + "\n"


def _reads(exprs: Any, sym: sp.Symbol) -> bool:
    return any(sym in sp.sympify(e).free_symbols for e in exprs)


def backward_source(spec: _Spec, dtype: str, who: str, target: _Target = _CPU) -> str:
    """The backward kernel: kernel([j0,] j1, cur (L, M) or dummy, cs, cv, S (L, M), S0 (M),
    x0 (n, M), keep (tuple of (L, M)), x_end (n, M), gS (L, M) or (1, 1) (``has_gS`` "scalar":
    one dL/dS for every step and lane) or dummy, gx (tuple of (L, M)),
    carry_x (n, M) in/out, carry_S (M) in/out, gI (L, M) out, acc (len(grads), M) in/out),
    over the lanes j < j1 (on CPU j0 <= j < j1, unsigned multiples of CH, as the forward; on
    CUDA the tuples cv, keep and gx are passed as their elements).

    ``x0``/``S0``: the states and spike before the segment; ``x_end``: the states at its last
    step. gI may share memory with keep[0] (row r is written after rows r-1, r-2 are read).
    The rows read as x[r-1], x[r-2] are chosen per time step (x0 before the segment), so the
    lane loop is one body."""
    K = spec.K
    n = len(K.state_names)
    snames = K.state_names
    rec = dict(spec.recovery)
    lane = target.lane
    out = [target.header(who, "backward", dtype)]
    keep_names = [f"keep_{q}" for q in range(len(spec.stored))]
    gx_names = [f"gx_{q}" for q in range(len(spec.gx))]
    out += target.signature(
        [
            "cur",
            "cs",
            ("cv", _lane_names(spec)),
            "S",
            "S0",
            "x0",
            ("keep", keep_names),
            "x_end",
            "gS",
            ("gx", gx_names),
            "carry_x",
            "carry_S",
            "gI",
            "acc",
            *(["wr", "MR"] if spec.recurrent else []),
        ]
    )
    ind, i2 = "    ", " " * 8
    i4 = i2 if target.cuda else " " * 16  # the body's indentation
    out += [f"{ind}L = S.shape[0]", f"{ind}M = S.shape[1]"]
    out += [f"{ind}zero = DT(0.0)", f"{ind}one = DT(1.0)"]
    top, scal = _coef_lines(spec, ind, target)
    out += top
    if spec.has_gS == "scalar":
        out.append(f"{ind}gS_1 = gS[0, 0]")
    if not target.cuda:
        out += [f"{ind}{k} = keep[{q}]" for q, k in enumerate(keep_names)]
        out += [f"{ind}{k} = gx[{q}]" for q, k in enumerate(gx_names)]
    carried = [x for i in range(n) for x in (f"xc_{i}", f"cx_{i}")] + ["cS"]
    carried += [f"ac_{a}" for a in range(len(spec.grads))]
    if not target.cuda:
        out += [f"{ind}{a} = np.empty(M, DT)" for a in carried]
    init = []
    for i in range(n):
        init.append(f"{lane(f'xc_{i}')} = x_end[{i}, j]")
        init.append(f"{lane(f'cx_{i}')} = carry_x[{i}, j]")
    init.append(f"{lane('cS')} = carry_S[j]")
    init += [f"{lane(f'ac_{a}')} = acc[{a}, j]" for a in range(len(spec.grads))]
    out += target.per_lane(init)
    out += _recurrent_top(spec, target, ind)
    out.append(f"{ind}for r in range(L - 1, -1, -1):")
    # rows of the previous steps, chosen once per step
    out.append(f"{i2}first = r == 0")
    out.append(f"{i2}early = r < 2")
    for q, nm in enumerate(spec.stored):
        i = snames.index(nm)
        out.append(f"{i2}kp_{q} = keep_{q}[r - 1] if r >= 1 else x0[{i}]")
        if rec:
            out.append(f"{i2}kpp_{q} = keep_{q}[r - 2] if r >= 2 else x0[{i}]")
    if not spec.spikes_from_states:
        out.append(f"{i2}Sr = S[r]")
        out.append(f"{i2}Sp = S[r - 1] if r >= 1 else S0")
        if rec:
            out.append(f"{i2}Spp = S[r - 2] if r >= 2 else S0")
    body = [] if target.cuda else [f"{i4}j = c0 + jj"]
    fast: dict[int, str] = {}  # body line -> its form on steps r >= 2 (r >= 1 without recovery)
    counter = itertools.count()
    lc, lane_names = _lane_coefs(spec, i4)
    body += lc
    names = {**scal, **lane_names}

    def spike_of(states: dict[str, str]) -> str:
        """H(z_written) of the states named in ``states`` (state name -> code)."""
        zn = dict(names)
        for nm, code in states.items():
            zn[sp.Symbol(nm, real=True)] = code
        return _Emitter(body, counter, zn, i4)(Spike(K.z_written))

    # x[r-1] (p_i) and S[r-1] (S_p)
    pn: dict[str, str] = {}
    for q, nm in enumerate(spec.stored):
        i = snames.index(nm)
        body.append(f"{i4}p_{i} = kp_{q}[j]")
        pn[nm] = f"p_{i}"
    if spec.spikes_from_states:
        code = spike_of(pn)
        fast[len(body)] = f"{i4}S_p = {code}"
        body.append(f"{i4}S_p = S0[j] if first else {code}")
    else:
        body.append(f"{i4}S_p = Sp[j]")
    if rec:
        rn = dict(names)
        rn[S_NEW] = "S_p"
        pp: dict[str, str] = {}
        for q, nm in enumerate(spec.stored):
            i = snames.index(nm)
            body.append(f"{i4}pp_{i} = kpp_{q}[j]")
            rn[sp.Symbol(nm, real=True)] = f"p_{i}"
            rn[sp.Symbol(nm + "_prev", real=True)] = f"pp_{i}"
            pp[nm] = f"pp_{i}"
        if spec.spikes_from_states:
            code = spike_of(pp)
            fast[len(body)] = f"{i4}S_pp = {code}"
            body.append(f"{i4}S_pp = S0[j] if early else {code}")
        else:
            body.append(f"{i4}S_pp = Spp[j]")
        rn[S_PREV] = "S_pp"
        em = _Emitter(body, counter, rn, i4)
        for nm, expr in rec.items():
            i = snames.index(nm)
            code = em(expr)
            fast[len(body)] = f"{i4}p_{i} = {code}"
            body.append(f"{i4}p_{i} = x0[{i}, j] if first else {code}")
            pn[nm] = f"p_{i}"
    # x[r] (xr_i) and S[r]
    for i in range(n):
        body.append(f"{i4}xr_{i} = {lane(f'xc_{i}')}")
    xr = {nm: f"xr_{i}" for i, nm in enumerate(snames)}
    if spec.spikes_from_states:
        body.append(f"{i4}S_t = {spike_of(xr)}")
    else:
        body.append(f"{i4}S_t = Sr[j]")
    pnames = dict(names)
    for i, nm in enumerate(snames):
        pnames[sp.Symbol(nm, real=True)] = pn[nm]
        pnames[sp.Symbol(nm + "__new", real=True)] = f"xr_{i}"
    pnames[S_PREV] = "S_p"
    pnames[S_NEW] = "S_t"
    if spec.current == "read":
        body.append(f"{i4}I_t = cur[r, j]")
        pnames[CURRENT] = "I_t"
    em = _Emitter(body, counter, pnames, i4)
    if spec.current == "formula":
        pnames[CURRENT] = em(K.current()[0])
    znames = dict(names)
    for i, nm in enumerate(snames):
        znames[sp.Symbol(nm, real=True)] = f"xr_{i}"
    zem = _Emitter(body, counter, znames, i4)
    zv = zem(K.z)
    zem.names[_Z] = zv
    psi = zem(spec.psi) if spec.psi is not None else "zero"
    pnames[PSI_NEW] = psi
    sb = lane("cS")
    if spec.has_gS:
        sb += " + gS_1" if spec.has_gS == "scalar" else " + gS[r, j]"
    body.append(f"{i4}sbar = {sb}")
    body.append(f"{i4}zs = {psi} * sbar")
    grad_idx = [K.coef_names.index(g) for g in spec.grads]
    zlive = [q for q in grad_idx if K.zc[q] != 0]
    zcodes = _cse_emit(zem, [K.zx[i] for i in range(n)] + [K.zc[q] for q in zlive])
    zx_codes = zcodes[:n]
    zc_codes = dict(zip(zlive, zcodes[n:], strict=True))
    for i, nm in enumerate(snames):
        terms = [lane(f"cx_{i}")]
        if nm in spec.gx:
            terms.append(f"gx_{spec.gx.index(nm)}[r, j]")
        if K.zx[i] != 0:
            terms.append(f"{zx_codes[i]} * zs")
        body.append(f"{i4}lam_{i} = {' + '.join(terms)}")
    entries: list[tuple[str, Any]] = []
    for i in range(n):
        entries.append((f"dI{i}", K.dI[i]))
        entries.append((f"dS{i}", K.dS[i]))
        for k in range(n):
            entries.append((f"dx{i}_{k}", K.dx[i, k]))
        for q in grad_idx:
            entries.append((f"dc{i}_{q}", K.dc[i, q]))
    live = [(tag, e) for tag, e in entries if e != 0]
    codes = dict(zip([t for t, _ in live], _cse_emit(em, [e for _, e in live]), strict=True))

    def dot(tag: Any, extra: str | None = None) -> str:
        terms = [f"{codes[tag(i)]} * lam_{i}" for i in range(n) if tag(i) in codes]
        if extra is not None:
            terms.append(extra)
        return " + ".join(terms) if terms else "zero"

    body.append(f"{i4}gI[r, j] = {dot(lambda i: f'dI{i}')}")
    for a, q in enumerate(grad_idx):
        extra = f"{zc_codes[q]} * zs" if q in zc_codes else None
        body.append(f"{i4}{lane(f'ac_{a}')} += {dot(lambda i, q=q: f'dc{i}_{q}', extra)}")
    for k in range(n):
        body.append(f"{i4}{lane(f'cx_{k}')} = {dot(lambda i, k=k: f'dx{i}_{k}')}")
    body.append(f"{i4}{lane('cS')} = {dot(lambda i: f'dS{i}')}")
    for i in range(n):
        body.append(f"{i4}{lane(f'xc_{i}')} = {pn[snames[i]]}")
    out += body if target.cuda else _peeled(body, fast, 2 if rec else 1, i2)
    if spec.recurrent:
        out += _recurrent_backward(i2)
    final = [f"carry_x[{i}, j] = {lane(f'cx_{i}')}" for i in range(n)]
    final.append(f"carry_S[j] = {lane('cS')}")
    final += [f"acc[{a}, j] = {lane(f'ac_{a}')}" for a in range(len(spec.grads))]
    out += target.per_lane(final)
    return "\n".join(out) + "\n"


def _recurrent_top(spec: _Spec, target: _Target, indent: str) -> list[str]:
    """Kernel-top lines of a recurrent kernel (``spec.recurrent``, CPU only). Its two extra
    arguments: ``wr``, the recurrent weights (NR, NR) (W^T in the forward, W in the backward),
    and MR, the lanes of the batch: lane b * NR + i is neuron i of batch row b, b < BR =
    MR / NR (the lanes from MR on are padding to whole chunks). Indices are unsigned, as the
    lane loop's."""
    if not spec.recurrent:
        return []
    if target.cuda:
        raise ValueError("fused: the recurrent kernels run on CPU only")
    return [
        f"{indent}NR = np.uint64(wr.shape[0])",
        f"{indent}BR = np.uint64(MR) // NR",
        f"{indent}rec = np.empty(NR, DT)",
    ]


def _recurrent_forward(indent: str) -> list[str]:
    """Lines at the top of forward step r, before its lane loop: the recurrent input
    ``cur[r, b, :] += S[r-1, b, :] W^T`` per batch row (S[-1] = S0), the product summed over
    the row's spiking neurons (the spikes are 0 or 1: a silent neuron adds nothing) in a
    scratch row, then added to the current, which thus ends as the step's whole input I[r]."""
    i1, i2, i3, i4 = (indent + "    " * k for k in (1, 2, 3, 4))
    return [
        f"{indent}sprev = spikes[r - 1] if r >= 1 else S0",
        f"{indent}for b in range(BR):",
        f"{i1}o = b * NR",
        f"{i1}for i in range(NR):",
        f"{i2}rec[i] = zero",
        f"{i1}for k in range(NR):",
        f"{i2}s = sprev[o + k]",
        f"{i2}if s != zero:",
        f"{i3}for i in range(NR):",
        f"{i4}rec[i] += s * wr[k, i]",
        f"{i1}for i in range(NR):",
        f"{i2}cur[r, o + i] += rec[i]",
    ]


def _recurrent_backward(indent: str) -> list[str]:
    """Lines after backward step r's lane loop (r >= 1): the recurrent path of the spike
    adjoint, ``cS[b, :] += gI[r, b, :] W`` per batch row (dL/dS[r-1] through I[r]), added to
    the carried spike adjoint that step r - 1 reads."""
    i1, i2, i3, i4 = (indent + "    " * k for k in (1, 2, 3, 4))
    return [
        f"{indent}if r >= 1:",
        f"{i1}for b in range(BR):",
        f"{i2}o = b * NR",
        f"{i2}for k in range(NR):",
        f"{i3}rec[k] = zero",
        f"{i2}for i in range(NR):",
        f"{i3}g = gI[r, o + i]",
        f"{i3}if g != zero:",
        f"{i4}for k in range(NR):",
        f"{i4}    rec[k] += g * wr[i, k]",
        f"{i2}for k in range(NR):",
        f"{i3}cS[o + k] += rec[k]",
    ]


def _peeled(body: list[str], fast: dict[int, str], edge: int, indent: str) -> list[str]:
    """The lane loop of one time step r: ``body`` on the first ``edge`` steps (r < edge: its
    lines choose per lane between the segment's initial values and values computed from
    earlier rows), and a copy with those lines replaced by ``fast`` (one or more lines each) on
    every other step, so that the loop the time is spent in makes no per-lane choice (LSTM-LIF:
    backward 13.2 -> 9.9 ms, forward 8.6 -> 6.1 ms with S[t-1] recomputed, not carried)."""
    loop = [
        f"{indent}for c0 in range(j0, j1, CHU):",
        f"{indent}    for jj in range(CHU):",
    ]
    if not fast:
        return loop + body
    deeper = ["    " + line for line in loop]
    return [
        f"{indent}if r >= {edge}:",
        *deeper,
        *("    " + x for k, line in enumerate(body) for x in fast.get(k, line).split("\n")),
        f"{indent}else:",
        *deeper,
        *("    " + line for line in body),
    ]


#: Lanes below which a kernel call gives no thread fewer than this many (a call handed to
#: another thread costs some tens of microseconds).
MIN_THREAD_LANES = 4096


def lane_threads(M: int) -> int:
    """How many threads a fused CPU kernel call over M = B*N lanes uses: torch's thread count
    (``torch.get_num_threads()``), at most one per ``MIN_THREAD_LANES`` lanes and one per
    whole chunk of ``CHUNK`` lanes, at least one."""
    chunks = M // CHUNK
    return max(1, min(torch.get_num_threads(), chunks, M // MIN_THREAD_LANES))


_WORKERS: list[tuple[int, int, ThreadPoolExecutor]] = []  # (process id, workers, pool)


def _pool(workers: int) -> ThreadPoolExecutor:
    """The worker threads (created on first use, again after a fork or for more workers)."""
    pid = os.getpid()
    if not _WORKERS or _WORKERS[0][0] != pid or _WORKERS[0][1] < workers:
        if _WORKERS and _WORKERS[0][0] == pid:
            _WORKERS[0][2].shutdown(wait=False)
        _WORKERS[:] = [(pid, workers, ThreadPoolExecutor(workers, "lstmlif-fused"))]
    return _WORKERS[0][2]


def _call(kernel: Any, M: int, *args: Any) -> None:
    """Run ``kernel(j0, j1, *args)`` over lanes 0..M: the whole chunks in place, split at chunk
    boundaries into ``lane_threads(M)`` ranges run at once (the first on the calling thread);
    the last M % CHUNK lanes through copies padded to one chunk (padding lanes repeat lane 0's
    coefficients and start from zeros; they are dropped). Every array whose last axis has M
    lanes (also inside tuples) is a lane array; the padded copies are written back in argument
    order, so an output that shares memory with an input (gI and keep[0]) ends as the output."""
    MF = M - M % CHUNK
    if MF:
        parts = lane_threads(MF)
        chunks = MF // CHUNK
        cut = [np.uint64(CHUNK * (chunks * k // parts)) for k in range(parts + 1)]
        if parts == 1:
            kernel(cut[0], cut[1], *args)
        else:
            pool = _pool(parts - 1)
            jobs = [pool.submit(kernel, cut[k], cut[k + 1], *args) for k in range(1, parts)]
            try:
                kernel(cut[0], cut[1], *args)
            finally:
                for job in jobs:
                    job.result()
    if MF == M:
        return
    tail: list[tuple[np.ndarray, np.ndarray]] = []

    def pad(a: Any, coef: bool = False) -> Any:
        if isinstance(a, tuple):
            return tuple(pad(b, coef) for b in a)
        if not isinstance(a, np.ndarray) or a.ndim == 0 or a.shape[-1] != M:
            return a
        p = np.zeros((*a.shape[:-1], CHUNK), dtype=a.dtype)
        p[..., : M - MF] = a[..., MF:]
        if coef:
            p[..., M - MF :] = a[..., :1]
        tail.append((a, p))
        return p

    padded = [pad(a, coef=(k == 2)) for k, a in enumerate(args)]
    kernel(np.uint64(0), np.uint64(CHUNK), *padded)
    for a, p in tail:
        a[..., MF:] = p[..., : M - MF]


# ----------------------------------------------------------------------------- compile + cache


def cache_dir() -> Path:
    """Where generated kernel sources (and numba's cache beside them) live: $LSTMLIF_CACHE, else
    the user cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``)/lstmlif/fused, else a folder in
    the temp dir when that is not writable (a read-only home)."""
    env = os.environ.get("LSTMLIF_CACHE")
    candidates = [Path(env)] if env else []
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidates.append(Path(base) / "lstmlif" / "fused")
    candidates.append(Path(tempfile.gettempdir()) / f"lstmlif-fused-{os.getuid()}")
    for c in candidates:
        try:
            c.mkdir(parents=True, exist_ok=True)
            probe = c / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
            return c
        except OSError:
            continue
    raise RuntimeError("fused: no writable folder for the generated kernels (set LSTMLIF_CACHE)")


_MODULES: dict[str, Any] = {}


_LLVM = " ".join(LLVM_OPTIONS)
_LLVM_SET: list[bool] = []


def _set_llvm_options() -> None:
    """Put ``LLVM_OPTIONS`` in force (once per process; LLVM's command-line options are
    process-wide). The generated source names them, so a kernel cached under other options
    is not reused."""
    if not _LLVM_SET:
        import llvmlite.binding as llvm

        for option in LLVM_OPTIONS:
            llvm.set_option("lstmlif", option)
        _LLVM_SET.append(True)


def _compile(source: str) -> Any:
    """The ``kernel`` of a generated source, written once to the cache folder (named by the
    source's hash) and imported; numba caches its machine code beside it."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    hit = _MODULES.get(digest)
    if hit is not None:
        return hit
    _set_llvm_options()
    folder = cache_dir()
    path = folder / f"k_{digest}.py"
    if not path.exists() or path.read_text() != source:
        tmp = folder / f".k_{digest}.{os.getpid()}.tmp"
        tmp.write_text(source)
        os.replace(tmp, path)
    name = f"lstmlif_fused_k_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _MODULES[digest] = module.kernel
    return module.kernel


def _kernel(kind: str, spec: _Spec, dtype: str, who: str, target: _Target = _CPU) -> Any:
    key = (kind, spec, dtype, target.name)
    hit = _KERNELS.get(key)
    if hit is None:
        make = forward_source if kind == "forward" else backward_source
        hit = _compile(make(spec, dtype, who, target))
        _KERNELS[key] = hit
    _BUILT.append((kind, spec, dtype, hit))
    del _BUILT[:-8]
    return hit


_KERNELS: dict[tuple, Any] = {}
_BUILT: list[tuple] = []  # the last kernels handed out (vector_report reads them)


# ----------------------------------------------------------------------------- storage choice


@dataclass(frozen=True)
class _Storage:
    """The minimal storage of a model's kernel: the stored states, the recovery formulas, the
    current's formula (None: keep the current when a partial reads it; also when the formula
    calls a function such as exp, see ``_costly``) and the denominators of both as NumPy
    functions of the coefficients (a zero one means: store every state)."""

    stored: tuple[str, ...]
    recovery: tuple[tuple[str, sp.Expr], ...]
    current: sp.Expr | None
    denominators: tuple[tuple[tuple[str, ...], Any], ...]
    current_denominator: tuple[tuple[str, ...], Any] | None


def _min_storage(K: KernelExpressions) -> _Storage:
    """The smallest set of states from which the others can be recovered (the first in state
    order among the smallest), cached on the expressions."""
    hit = _STORE_CACHE.get(id(K))
    if hit is not None and hit[0] is K:
        return hit[1]
    names = K.state_names
    best: tuple[tuple[str, ...], dict] = (names, {})
    for size in range(1, len(names)):
        found = None
        for sub in itertools.combinations(names, size):
            rec = K.recovery(sub)
            if rec is not None:
                found = (sub, rec)
                break
        if found is not None:
            best = found
            break
    cur = K.current()
    if cur is not None and _costly(cur[0]):
        cur = None
    out = _Storage(
        stored=tuple(best[0]),
        recovery=tuple((k, e) for k, (e, _) in best[1].items()),
        current=cur[0] if cur is not None else None,
        denominators=tuple(_denominator(d) for _, d in best[1].values()),
        current_denominator=_denominator(cur[1]) if cur is not None else None,
    )
    _STORE_CACHE[id(K)] = (K, out)
    return out


_STORE_CACHE: dict[int, tuple] = {}


def _costly(formula: sp.Expr) -> bool:
    """Whether recovering the current by ``formula`` costs more than reading the kept current:
    the formula calls a function (exp, log, tanh...: ``_FUNCTIONS``) or takes a non-integer
    power. One exponential per lane-step takes longer than one more T*B*N array to read (on
    the 2-core machine of benchmarks/README.md: 1.3e9 ``vexp`` per second against ~5e9 floats
    per second read), and the current is the caller's own tensor, kept without a copy. CLIF's
    current formula has two exponentials and a division: reading the current took its
    backward from 98 to 63 ms (T = 784, B = 64, N = 256, float32, one thread); the gradient
    then uses the current itself instead of a recovered one (equal to rounding)."""
    calls = tuple(cls for cls, _ in _FUNCTIONS)
    return any(
        isinstance(a, calls) or (isinstance(a, sp.Pow) and not a.exp.is_Integer)
        for a in sp.preorder_traversal(formula)
    )


def _denominator(den: sp.Expr) -> tuple[tuple[str, ...], Any]:
    """A coefficient expression that a recovery divides by, as a NumPy function."""
    syms = sorted(den.free_symbols, key=lambda s: s.name)
    return tuple(s.name for s in syms), sp.lambdify(syms, den, modules="numpy")


def _nonzero(den: tuple[tuple[str, ...], Any], values: dict[str, Any]) -> bool:
    names, fn = den
    vals = [_as_np(values[k]) for k in names]
    return not np.any(np.asarray(fn(*vals)) == 0)


_PSI: dict[Any, sp.Expr] = {}


def _psi(surrogate: Any) -> sp.Expr:
    hit = _PSI.get(surrogate)
    if hit is None:
        hit = _PSI[surrogate] = sp.sympify(surrogate.psi(_Z, SYMPY_MATH))
    return hit


# ----------------------------------------------------------------------------- autograd


@dataclass(frozen=True, eq=False)
class _Plan:
    model: NeuronModel
    K: KernelExpressions
    shape: tuple[int, ...]
    names: tuple[str, ...]  # coefficient names in apply order (tensor inputs)
    fixed: dict[str, Any]  # coefficient values that are not autograd inputs
    lane: tuple[bool, ...]
    store: str  # "min" | "all" | "checkpoint" | "none"
    checkpoint: int
    outputs: bool  # fused_simulate: states are outputs
    stored: tuple[str, ...]
    recovery: tuple[tuple[str, sp.Expr], ...]
    current: str  # "none" | "read" | "formula"
    psi: sp.Expr | None
    who: str
    caller: str

    def from_states(self, stored: tuple[str, ...]) -> bool:
        """Whether the backward may recompute the spikes from these stored states."""
        zs = {s.name for s in self.K.z_written.free_symbols} & set(self.K.state_names)
        return self.K.spike_from_state and zs <= set(stored)


_HUGE = 1 << 21


def _buffer(rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised (rows, cols) CPU tensor of ``like``'s dtype. Large ones are anonymous
    memory maps advised to use transparent huge pages: a fresh 50 MB buffer then costs a few
    page faults instead of ~12,000 (measured here: 3-7 ms against ~20 ms to first touch). A
    map whose tensor has been freed is kept for the next buffer of its size (at most
    ``_POOL_SIZE`` per size), so a training loop does not fault them in again."""
    dtype = np.float32 if like.dtype == torch.float32 else np.float64
    count = rows * cols
    nbytes = count * np.dtype(dtype).itemsize
    if nbytes < 4 * _HUGE or not hasattr(mmap, "MADV_HUGEPAGE"):
        return like.new_empty((rows, cols))
    size = -(-nbytes // _HUGE) * _HUGE
    free = _POOL.setdefault(size, [])
    if free:
        region = free.pop()
    else:
        region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        try:
            region.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass
    array = np.frombuffer(region, dtype=dtype, count=count).reshape(rows, cols)
    weakref.finalize(array, _release, size, region)
    return torch.from_numpy(array)


_POOL: dict[int, list[mmap.mmap]] = {}
_POOL_SIZE = 2


def _release(size: int, region: mmap.mmap) -> None:
    free = _POOL.setdefault(size, [])
    if len(free) < _POOL_SIZE:
        free.append(region)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _lanes(shape: tuple[int, ...]) -> int:
    """M = B*N: the lanes of a batch shape (1 for a scalar batch)."""
    return int(np.prod(shape)) if shape else 1


def _coef_tensors(plan: _Plan, values: dict[str, Any], like: torch.Tensor):
    """(cs (number of scalar coefficients,), cv tuple of (M,)) in ``like``'s dtype, on its
    device."""
    M = _lanes(plan.shape)
    scal, lanes = [], []
    for k, lane in zip(plan.K.coef_names, plan.lane, strict=True):
        v = values[k]
        if lane:
            t = torch.as_tensor(v, dtype=like.dtype, device=like.device).detach()
            lanes.append(t.expand(plan.shape).reshape(M).contiguous())
        else:
            scal.append(float(torch.as_tensor(v, dtype=torch.float64).detach().reshape(())))
    cs = torch.tensor(scal or [0.0], dtype=like.dtype, device=like.device)
    return cs, tuple(lanes)


def _coef_arrays(plan: _Plan, values: dict[str, Any], like: torch.Tensor):
    """``_coef_tensors`` as NumPy arrays (CPU)."""
    cs, cv = _coef_tensors(plan, values, like)
    return _np(cs), tuple(_np(t) for t in cv)


def _flat_tensor(current: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """The current (T, *c) broadcast to the batch and flattened to (T, M), contiguous (a view
    where it already is)."""
    T = current.shape[0]
    rest = tuple(current.shape[1:])
    aligned = current.detach().reshape((T, *([1] * (len(shape) - len(rest))), *rest))
    M = _lanes(shape)
    return aligned.expand((T, *shape)).reshape(T, M).contiguous()


def _flat_current(current: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    return _np(_flat_tensor(current, shape))


def _outputs(ctx: Any, spikes: torch.Tensor, keep: tuple, current: torch.Tensor, coefs: tuple):
    """A fused forward's end: what it saves for backward and returns: spikes (T, *batch) or,
    for fused_simulate, (spikes, *states). The kept states are held on ctx (not saved) when
    the backward may overwrite the first with dL/dI."""
    plan: _Plan = ctx.plan
    T, shape = spikes.shape[0], plan.shape
    keep_current = current if plan.current == "read" else None
    if plan.outputs:
        outs = (spikes.reshape((T, *shape)), *(k.reshape((T, *shape)) for k in keep))
        ctx.save_for_backward(*outs, keep_current, *coefs)
        ctx.kept = None
        return outs
    ctx.save_for_backward(spikes, keep_current, *coefs)
    ctx.kept = keep
    return spikes.reshape((T, *shape))


def _saved(ctx: Any) -> tuple:
    """(spikes, kept states, current or None, coefficient tensors) for a fused backward; the
    kept states once only (their first buffer becomes dL/dI)."""
    plan: _Plan = ctx.plan
    n = len(plan.K.state_names)
    if plan.outputs:
        S, *rest = ctx.saved_tensors
        return S, tuple(rest[:n]), rest[n], tuple(rest[n + 1 :])
    S, current, *coefs = ctx.saved_tensors
    keep = ctx.kept
    if plan.store in ("min", "all"):
        if keep is None:
            raise RuntimeError(
                "fused backward: this sequence was already differentiated and its states were "
                "reused for the input gradient; to backpropagate through it twice use "
                "fused_simulate or backward='autograd'"
            )
        ctx.kept = None
    return S, keep, current, tuple(coefs)


def _input_grads(ctx: Any, coefs: tuple, grads: tuple, acc: torch.Tensor, gI: torch.Tensor):
    """What a fused backward returns: (None, dL/dcurrent, *dL/dcoefficients) from the kernel's
    per-lane accumulators acc (len(grads), M), summed in float64, and dL/dI (T, M)."""
    plan: _Plan = ctx.plan
    shape = plan.shape
    g_coefs = []
    for name, c in zip(plan.names, coefs, strict=True):
        if name not in grads:
            g_coefs.append(None)
            continue
        a = acc[grads.index(name)].to(torch.float64).reshape(shape)
        with one_thread():  # the same summation order for every thread count
            g = a.sum() if c.numel() == 1 else a.sum_to_size(c.shape)
        g_coefs.append(g.reshape(c.shape).to(dtype=c.dtype))
    g_current = None
    if ctx.needs_input_grad[1]:
        T, *rest = ctx.current_shape
        aligned = (T, *([1] * (len(shape) - len(rest))), *rest)
        with one_thread():
            g_current = gI.reshape((T, *shape)).sum_to_size(aligned)
        g_current = g_current.reshape(ctx.current_shape)
    return (None, g_current, *g_coefs)


def _spec(
    plan: _Plan, stored, recovery, current, grads=(), has_gS=False, gx=(), recurrent=False
) -> _Spec:
    return _Spec(
        spikes_from_states=plan.from_states(tuple(stored)),
        K=plan.K,
        lane=plan.lane,
        stored=tuple(stored),
        recovery=tuple(recovery),
        current=current,
        grads=tuple(grads),
        has_gS=has_gS,
        gx=tuple(gx),
        psi=plan.psi,
        recurrent=recurrent,
    )


def _finite(chk: np.ndarray, plan: _Plan) -> None:
    """The forward kernel's check of the current (it writes NaN into ``chk`` when an input
    was NaN or infinite)."""
    if not np.isfinite(chk).all():
        raise ValueError(f"{plan.caller}: current contains NaN or infinite values")


def _as_np(v: Any) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().to(torch.float64).numpy()
    return np.asarray(v, dtype=np.float64)
