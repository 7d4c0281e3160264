r"""The online rules, each one recursion forward in time over the generated partials.

Notation (per sequence of the batch; j, i neurons, a, c states, k a presynaptic index of
pre[t] = [u[t], S[t-1]], p any trainable scalar): the per-neuron partials of step t, dx_j
(n x n), dS_j, dI_j (n), dth_j (n x m, chained to the raw values), zx_j (n), zth_j (m), psi_j;
the total derivative of S_j[t] with respect to p is q_j[t]. The exact influence
M_j[t] = dx_j[t] / dp obeys (real-time recurrent learning, Williams and Zipser 1989)

    dI_j[t]/dp = [p = W_jk] pre_k[t] + sum_i W_rec[j, i] q_i[t-1]              (between neurons)
    M_j[t]     = dx_j M_j[t-1] + dS_j q_j[t-1] + dI_j dI_j[t]/dp + [p = raw_j] dth_j
    q_j[t]     = psi_j[t] (zx_j . M_j[t] + [p = raw_j] zth_j)
    dL/dp     += g_x_j[t] . M_j[t] + g_S_j[t] q_j[t]

What each rule keeps of it:

- ``rtrl``: everything (memory B H n P, P = H (K + m): O(H^3 n)).
- ``ostl`` (Bohnstingl et al. 2022): drops the recurrent term ``sum_i W_rec[j, i] q_i[t-1]``
  (every path from one neuron's spike through W_rec into a neuron, the diagonal W_rec[j, j]
  too); keeps the neuron's full internal Jacobian dx_j + dS_j psi_j zx_j, its own spike and
  reset included. Then M_j is non-zero only for the parameters of neuron j's own row:
  eligibility traces E_j (n x K) and E^theta_j (n x m), memory B H n (K + m). Exact when the
  layer has no recurrent weights (or W_rec = 0).
- ``eprop`` (Bellec et al. 2020): ``ostl`` with the partials of the model whose reset spike is
  held (``detach_reset=True``; ``held_partials``): the traces run on d h[t]/d h[t-1] with the
  spike inside the reset held, other paths through the neuron's own spike (ALIF's adaptation)
  kept. The learning signal is the instantaneous explicit error g_S[t] (and g_x[t]), with the
  readout's W_out^T (``feedback="symmetric"``) or a fixed random matrix (``"random"``). Exact
  when BPTT cuts the same paths: no recurrent weights and the reset detached.
- ``ottt`` (after Xiao et al. 2022): the weight traces replaced by one presynaptic trace per
  input, a[t] = lambda a[t-1] + pre[t] (memory B K), with E_j[t] ~ dI_j[t] a[t]^T, so
  dL/dW_jk += (g_x_j . dI_j + g_S_j psi_j zx_j . dI_j) a_k. lambda is one number per layer:
  the mean over neurons of the spectral radius of dx at rest (x = 0, S = 0, I = 0), which is
  alpha for LIF. The model's own parameters use ``ostl``'s traces (memory B H n m). Exact for
  a feed-forward layer whose neuron has one state with dx = lambda and dI constant (LIF,
  reset detached).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lstmlif.neurons import NUMPY_OPS

from .core import Loss, OnlineLayer, StepTerms, Sweep

__all__ = [
    "Rule",
    "RTRL",
    "OSTL",
    "EProp",
    "OTTT",
    "RULES",
    "ENGINES",
    "AUTO_WORK",
    "RuleResult",
    "choose_engine",
    "run_rule",
    "rest_decay",
]


class Rule:
    """Base: ``update(terms)`` once per step, then ``gradients()``: {tensor name: array}
    (``OnlineLayer.tensor_names``) summed over the batch; ``state_bytes()``: the bytes of
    every array the rule carries from one step to the next (gradient accumulators included)."""

    name: ClassVar[str] = ""
    held: ClassVar[bool] = False

    def __init__(self, layer: OnlineLayer, batch: int, n: int, dtype: Any = np.float64) -> None:
        self.layer = layer
        self.B, self.H, self.n = batch, layer.hidden, n
        self.K = layer.presyn
        self.m = len(layer.trained)
        self.dtype = np.dtype(dtype)
        self.gW = np.zeros((self.H, self.K), dtype=self.dtype)
        self.gth = np.zeros((self.H, self.m), dtype=self.dtype)

    def update(self, s: StepTerms) -> None:
        raise NotImplementedError

    def carried(self) -> list[np.ndarray]:
        """The arrays carried between steps (besides the accumulators)."""
        return []

    def state_bytes(self) -> int:
        return int(sum(a.nbytes for a in (*self.carried(), self.gW, self.gth)))

    def gradients(self) -> dict[str, np.ndarray]:
        layer = self.layer
        D = layer.inputs
        out = {"w_in": self.gW[:, :D].astype(np.float64)}
        if layer.w_rec is not None:
            out["w_rec"] = self.gW[:, D:].astype(np.float64)
        for k, t in enumerate(layer.trained.values()):
            out[t.raw] = self.gth[:, k].astype(np.float64)
        return out


class RTRL(Rule):
    """Exact real-time recurrent learning: the full influence tensor M (B, H, n, P) and
    q = dS[t]/dp (B, H, P), P = H (K + m) (see the module docstring)."""

    name = "rtrl"

    def __init__(self, layer: OnlineLayer, batch: int, n: int, dtype: Any = np.float64) -> None:
        super().__init__(layer, batch, n, dtype)
        H, K, m = self.H, self.K, self.m
        self.Pw = H * K
        self.P = self.Pw + H * m
        self.M = np.zeros((batch, H, n, self.P), dtype=self.dtype)
        self.q = np.zeros((batch, H, self.P), dtype=self.dtype)
        # (neuron j, column of W_jk) and (neuron j, column of raw_jk) pairs
        self.jw = np.repeat(np.arange(H), K)
        self.cw = self.jw * K + np.tile(np.arange(K), H)
        self.kw = np.tile(np.arange(K), H)
        self.jt = np.tile(np.arange(H), m)
        self.kt = np.repeat(np.arange(m), H)
        self.ct = self.Pw + self.kt * H + self.jt
        self.w_rec = None if layer.w_rec is None else layer.w_rec.astype(self.dtype)

    def carried(self) -> list[np.ndarray]:
        return [self.M, self.q]

    def update(self, s: StepTerms) -> None:
        q = self.q
        if self.w_rec is not None:
            dIdp = np.einsum("ji,bip->bjp", self.w_rec, q)
        else:
            dIdp = np.zeros_like(q)
        dIdp[:, self.jw, self.cw] += s.pre[:, self.kw]
        M = np.einsum("bjac,bjcp->bjap", s.dx, self.M)
        M += s.dS[..., None] * q[:, :, None, :]
        M += s.dI[..., None] * dIdp[:, :, None, :]
        if self.m:
            Mv = M.transpose(0, 1, 3, 2)
            Mv[:, self.jt, self.ct, :] += s.dth.transpose(0, 1, 3, 2)[:, self.jt, self.kt, :]
        qn = np.einsum("bja,bjap->bjp", s.zx, M)
        if self.m:
            qn[:, self.jt, self.ct] += s.zth[:, self.jt, self.kt]
        qn *= s.psi[..., None]
        g = np.einsum("bj,bjp->p", s.gS, qn)
        if s.gx is not None:
            g += np.einsum("bja,bjap->p", s.gx, M)
        self.gW += g[: self.Pw].reshape(self.H, self.K)
        self.gth += g[self.Pw :].reshape(self.m, self.H).T
        self.M, self.q = M, qn


class OSTL(Rule):
    """Per-neuron eligibility traces with the neuron's full internal Jacobian; the recurrent
    paths between neurons dropped (see the module docstring). E (B, H, n, K), Eth
    (B, H, n, m), and their spike derivatives qE (B, H, K), qth (B, H, m)."""

    name = "ostl"

    def __init__(self, layer: OnlineLayer, batch: int, n: int, dtype: Any = np.float64) -> None:
        super().__init__(layer, batch, n, dtype)
        H, K, m = self.H, self.K, self.m
        self.E = np.zeros((batch, H, n, K), dtype=self.dtype)
        self.Eth = np.zeros((batch, H, n, m), dtype=self.dtype)
        self.qE = np.zeros((batch, H, K), dtype=self.dtype)
        self.qth = np.zeros((batch, H, m), dtype=self.dtype)

    def carried(self) -> list[np.ndarray]:
        return [self.E, self.Eth, self.qE, self.qth]

    def jacobian(self, s: StepTerms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(dx, dS, dI, dth) the traces run on."""
        return s.dx, s.dS, s.dI, s.dth

    def update(self, s: StepTerms) -> None:
        dx, dS, dI, dth = self.jacobian(s)
        E = np.einsum("bjac,bjck->bjak", dx, self.E)
        E += dS[..., None] * self.qE[:, :, None, :]
        E += dI[..., None] * s.pre[:, None, None, :]
        qE = s.psi[..., None] * np.einsum("bja,bjak->bjk", s.zx, E)
        self.gW += np.einsum("bj,bjk->jk", s.gS, qE)
        if s.gx is not None:
            self.gW += np.einsum("bja,bjak->jk", s.gx, E)
        self.E, self.qE = E, qE
        _theta_traces(self, s, dx, dS, dth)


def _theta_traces(r: Rule, s: StepTerms, dx: np.ndarray, dS: np.ndarray, dth: np.ndarray) -> None:
    """The per-neuron traces of the model's own parameters, Eth (B, H, n, m) and qth (B, H, m),
    one step on (dx, dS, dth), and their gradient into ``r.gth``."""
    if not r.m:
        return
    Eth = np.einsum("bjac,bjck->bjak", dx, r.Eth)
    Eth += dS[..., None] * r.qth[:, :, None, :] + dth
    qth = s.psi[..., None] * (np.einsum("bja,bjak->bjk", s.zx, Eth) + s.zth)
    r.gth += np.einsum("bj,bjk->jk", s.gS, qth)
    if s.gx is not None:
        r.gth += np.einsum("bja,bjak->jk", s.gx, Eth)
    r.Eth, r.qth = Eth, qth


class EProp(OSTL):
    """e-prop: ``OSTL``'s traces on the partials with the reset spike held; learning signal
    with symmetric or random feedback (see the module docstring)."""

    name = "eprop"
    held = True

    def jacobian(self, s: StepTerms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        assert s.held is not None
        return s.held


def rest_decay(layer: OnlineLayer) -> float:
    """lambda of ``ottt``: the mean over neurons of the spectral radius of dx at rest
    (x = 0, S[t-1] = 0, I = 0, psi = 0)."""
    from lstmlif.neurons.derivatives import step_partials

    model = layer.numpy_model()
    D = step_partials(model)
    H, n = layer.hidden, D.n
    zeros = np.zeros(H)
    theta = [np.asarray(v, dtype=np.float64) for v in model.params().values()]
    p = model.coefficients(NUMPY_OPS)
    state = {nm: zeros for nm in model.state_names}
    state["S"] = zeros
    new, S = model.step(p, state, zeros, NUMPY_OPS)
    S = np.broadcast_to(np.asarray(S, dtype=np.float64), (H,))
    flat = D.numpy["partials"](*([zeros] * n), zeros, zeros, S, zeros, *theta)
    dx = np.array([np.broadcast_to(np.asarray(e, dtype=np.float64), (H,)) for e in flat[: n * n]])
    dx = dx.reshape(n, n, H).transpose(2, 0, 1)
    return float(np.mean(np.max(np.abs(np.linalg.eigvals(dx)), axis=-1)))


class OTTT(Rule):
    """One presynaptic trace per input, a (B, K), for the weights; ``OSTL``'s traces Eth
    (B, H, n, m), qth (B, H, m) for the model's own parameters (see the module docstring)."""

    name = "ottt"

    def __init__(
        self,
        layer: OnlineLayer,
        batch: int,
        n: int,
        dtype: Any = np.float64,
        lam: float | None = None,
    ) -> None:
        super().__init__(layer, batch, n, dtype)
        self.lam = rest_decay(layer) if lam is None else float(lam)
        self.a = np.zeros((batch, self.K), dtype=self.dtype)
        self.Eth = np.zeros((batch, self.H, n, self.m), dtype=self.dtype)
        self.qth = np.zeros((batch, self.H, self.m), dtype=self.dtype)

    def carried(self) -> list[np.ndarray]:
        return [self.a, self.Eth, self.qth]

    def update(self, s: StepTerms) -> None:
        self.a = self.lam * self.a + s.pre
        delta = s.gS * s.psi * np.einsum("bja,bja->bj", s.zx, s.dI)
        if s.gx is not None:
            delta = delta + np.einsum("bja,bja->bj", s.gx, s.dI)
        self.gW += delta.T @ self.a
        _theta_traces(self, s, s.dx, s.dS, s.dth)


RULES: dict[str, type[Rule]] = {r.name: r for r in (RTRL, OSTL, EProp, OTTT)}
"""The online rules by name (``bptt``, the reference, is ``online.bptt``)."""


@dataclass(frozen=True)
class RuleResult:
    """One rule's run: gradients {tensor name: array}, seconds (wall clock of the whole pass,
    forward included), memory_bytes (the rule's carried arrays plus the forward's carried
    state), spikes (the number of spikes in the run), engine (``"numpy"`` or ``"fused"``: what
    ran the per-step update; ``"autograd"`` for ``online.bptt``)."""

    rule: str
    gradients: dict[str, np.ndarray]
    seconds: float
    memory_bytes: int
    spikes: int
    engine: str = "numpy"


ENGINES = ("auto", "fused", "numpy")
"""What runs a rule's per-step update: ``"numpy"`` (``Rule.update`` on the NumPy partials),
``"fused"`` (a generated numba kernel, ``online.fused``; ``rtrl`` has none and runs NumPy) or
``"auto"``: fused when the run is long enough to repay compiling the kernel (``AUTO_WORK``)."""

AUTO_WORK = 10**8
"""``engine="auto"`` runs the fused kernel when T B H n (K + m), the trace entries the run
updates, reaches this: the NumPy pass costs 6-14 ns more per entry than the fused one (LIF,
ALIF, B = 32, ``benchmarks/bench_online.py``), so at the threshold the saving, 0.6-1.4 s, exceeds
loading a cached kernel (about 0.1 s, and about 1.5 s for numba's first import in a process)
and is of the order of a first compile (1-8 s, paid once per model, dtype and machine)."""


def choose_engine(rule: str, layer: OnlineLayer, steps: int, batch: int, engine: str) -> str:
    """The engine that ``run_rule`` uses for ``rule`` on ``layer`` over ``steps`` steps of
    ``batch`` sequences under ``engine`` (one of ``ENGINES``)."""
    from .fused import FUSED_RULES

    if engine not in ENGINES:
        raise ValueError(f"online: engine must be one of {ENGINES}, got {engine!r}")
    if rule not in FUSED_RULES or engine == "numpy":
        return "numpy"
    if engine == "fused":
        return "fused"
    n = len(layer.model.state_names)
    work = steps * batch * layer.hidden * n * (layer.presyn + len(layer.trained))
    return "fused" if work >= AUTO_WORK else "numpy"


def run_rule(
    rule: str,
    layer: OnlineLayer,
    inputs: Any,
    loss: Loss,
    *,
    feedback: str = "symmetric",
    dtype: Any = np.float64,
    engine: str = "auto",
    **options: Any,
) -> RuleResult:
    """Run one online rule over inputs (T, B, D) with ``loss``; ``feedback`` ("symmetric" or
    "random") is e-prop's (random needs a ``ReadoutLoss``); ``engine`` what runs the update
    (``ENGINES``; the result's ``engine`` says which ran); ``options`` go to the rule."""
    if rule not in RULES:
        raise ValueError(f"online: unknown rule {rule!r}; choose one of {[*RULES, 'bptt']}")
    if feedback not in ("symmetric", "random"):
        raise ValueError(f"online: feedback must be 'symmetric' or 'random', got {feedback!r}")
    if feedback == "random" and rule != "eprop":
        raise ValueError("online: random feedback is e-prop's (rule 'eprop')")
    shape = np.shape(inputs)
    steps, batch = (int(shape[0]), int(shape[1])) if len(shape) == 3 else (1, 1)
    if choose_engine(rule, layer, steps, batch, engine) == "fused":
        from .fused import run_fused

        return run_fused(rule, layer, inputs, loss, feedback=feedback, dtype=dtype, **options)
    cls = RULES[rule]
    start = time.perf_counter()
    sweep = Sweep(layer, inputs, loss, held=cls.held, random=feedback == "random", dtype=dtype)
    r = cls(layer, sweep.shape[0], sweep.D.n, dtype, **options)
    spikes = 0.0
    for terms in sweep:
        r.update(terms)
        spikes += float(terms.S.sum())
    seconds = time.perf_counter() - start
    return RuleResult(
        rule, r.gradients(), seconds, r.state_bytes() + sweep.carried_bytes(), int(spikes)
    )
