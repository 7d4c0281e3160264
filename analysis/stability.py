"""Sub-threshold stability of a neuron's gradient recursion (docs/theory.md sections 1, 2 and 5).

Below threshold (psi = 0) every model's update map x[t-1] -> x[t] is affine, so the one-step
Jacobian J = d x[t] / d x[t-1] is read off ``model.transition`` evaluated in NumPy on unit
perturbations of the state (no formula is retyped here). From J follow the spectrum, the
oscillation period, the transient amplification sup_k ||J^k||, the memory horizon and the
Jury / Schur-Cohn classification. Every function broadcasts over array parameters: a model whose
parameters have the broadcast shape ``P`` gives results of shape ``(*P, ...)``.

``lstmlif inspect MODEL --param NAME=VALUE ...`` prints these quantities for one parameter set.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from lstmlif.fileio import jsonable
from lstmlif.neurons.models import LSTMLIF, NeuronModel, get_model
from lstmlif.neurons.ops import NUMPY_OPS, TORCH_OPS
from lstmlif.neurons.registry import model_names

__all__ = [
    "MARGINAL_TOL",
    "LABELS",
    "subthreshold_jacobian",
    "input_vector",
    "eigenvalues",
    "spectral_radius",
    "period",
    "jury_conditions",
    "schur_cohn_conditions",
    "classify",
    "log10_power_norms",
    "log10_sup_power_norm",
    "sup_power_norm",
    "memory_horizon",
    "lstmlif_theta",
    "lstmlif_power_closed_form",
    "lstmlif_impulse_closed_form",
    "exact_jacobian",
    "exact_spectrum",
    "inspect_model",
    "parse_params",
    "add_arguments",
    "run",
]

#: Tolerance of the marginal class: a Jury margin (or 1 - spectral radius) within +-1e-12 of 0
#: counts as |lambda| = 1. Rounding in the entries of J is a few 1e-16.
MARGINAL_TOL = 1e-12

LABELS = ("decaying", "oscillating-decaying", "marginal", "growing")


# ----------------------------------------------------------------------------- helpers


def _numeric_model(model: NeuronModel) -> NeuronModel:
    """``model`` with every parameter as a float64 NumPy value (torch tensors are copied)."""
    if not isinstance(model, NeuronModel):
        raise ValueError(f"expected a neuron model record, got {type(model).__name__}")
    changes: dict[str, Any] = {}
    for name, value in model.params().items():
        if isinstance(value, torch.Tensor):
            changes[name] = value.detach().to("cpu", torch.float64).numpy()
        elif not isinstance(value, (int, float, np.ndarray, np.number)):
            raise ValueError(
                f"{type(model).__name__}: parameter '{name}' must be numeric for this analysis, "
                f"got {type(value).__name__} (use analysis.symbolic for symbolic parameters)"
            )
    return model.replace(**changes) if changes else model


def _param_shape(model: NeuronModel) -> tuple[int, ...]:
    """The broadcast shape P of the model's parameters (ValueError naming them if none)."""
    shapes = {k: np.shape(v) for k, v in model.params().items()}
    shapes["dt"] = np.shape(getattr(model, "dt", 1.0))
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        raise ValueError(
            f"{type(model).__name__}: parameter shapes do not broadcast: {shapes}"
        ) from None


def _safe_perturbation(
    model: NeuronModel, p: Any, names: tuple[str, ...], j: int, zeros: np.ndarray
) -> np.ndarray:
    """A step h = +1 or -1 (per element) along state j that keeps the spike argument < 0.

    The spike argument is affine in the state and negative at the zero state, so at least one of
    the two signs keeps it negative.
    """
    ok = []
    for sign in (1.0, -1.0):
        state = {nm: zeros + (sign if i == j else 0.0) for i, nm in enumerate(names)}
        ok.append(np.asarray(model.spike_argument(p, state, NUMPY_OPS)) < 0)
    if not np.all(ok[0] | ok[1]):
        raise ValueError(
            f"{type(model).__name__}: no sub-threshold perturbation of state '{names[j]}'"
        )
    return np.where(ok[0], 1.0, -1.0) + zeros


def _as_matrix_stack(J: Any) -> np.ndarray:
    J = np.asarray(J, dtype=np.float64)
    if J.ndim == 0:
        J = J.reshape(1, 1)
    if J.ndim < 2 or J.shape[-1] != J.shape[-2]:
        raise ValueError(f"J must have shape (..., n, n), got {J.shape}")
    if not np.all(np.isfinite(J)):
        raise ValueError("J contains NaN or infinite entries")
    return J


# ----------------------------------------------------------------------------- Jacobian, spectrum


def subthreshold_jacobian(model: NeuronModel) -> np.ndarray:
    """J = d x[t] / d x[t-1] below threshold (psi = 0), shape (*P, n, n), state order
    ``model.state_names``.

    Where the map is affine along each state axis below threshold (J x + b I for the paper's
    models), with I = 0 and the zero state (no spike) column j is
    ``(transition(h e_j) - transition(0)) / h`` for a unit step h that keeps the state below
    threshold. The quotient is compared with the one for h / 2; where they differ (a map with a
    product of states or a nonlinear function of one) J is the derivative at the zero state,
    taken by autograd with psi = 0.
    """
    m = _numeric_model(model)
    names = m.state_names
    n = len(names)
    shape = _param_shape(m)
    zeros = np.zeros(shape)
    p = m.coefficients(NUMPY_OPS)
    if not np.all(np.asarray(m.spike_argument(p, dict.fromkeys(names, zeros), NUMPY_OPS)) < 0):
        raise ValueError(f"{type(m).__name__}: the zero state is not below threshold")
    J = np.empty((*shape, n, n))
    half = np.empty((*shape, n, n))
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        base = m.transition(dict.fromkeys(names, zeros), zeros, NUMPY_OPS)
        for j in range(n):
            h = _safe_perturbation(m, p, names, j, zeros)
            for step, into in ((h, J), (h / 2, half)):
                x = {nm: zeros + (step if i == j else 0.0) for i, nm in enumerate(names)}
                out = m.transition(x, zeros, NUMPY_OPS)
                for i, nm in enumerate(names):
                    into[..., i, j] = (np.asarray(out[nm]) - np.asarray(base[nm])) / step
    if np.all(np.isfinite(J)) and not np.allclose(J, half, rtol=1e-9, atol=1e-12):
        # not affine along some state axis (e.g. a product of two states, or a sigmoid of one):
        # the difference quotient is not the derivative, so differentiate at the zero state
        J = _rest_jacobian_autograd(m, shape)
    if not np.all(np.isfinite(J)):
        shown = ", ".join(
            f"{k}={np.asarray(v).ravel()[0]:.3g}" + ("..." if np.size(v) > 1 else "")
            for k, v in m.params().items()
        )
        raise ValueError(
            f"{type(m).__name__}: the sub-threshold Jacobian overflows float64 at these "
            f"parameters ({shown}): an entry (a product of parameters) is beyond 1.8e308"
        )
    return J + 0.0  # no negative zeros


def _rest_jacobian_autograd(m: NeuronModel, shape: tuple[int, ...]) -> np.ndarray:
    """d x[t] / d x[t-1] at the zero state and I = 0 by autograd in float64, with the spike's
    value only (psi = 0): the sub-threshold J of a map that is not affine below threshold."""
    names = m.state_names
    tm = m.replace(
        **{
            k: torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=torch.float64)
            for k, v in m.params().items()
        }
    )
    ops = dataclasses.replace(TORCH_OPS, spike=lambda z, surrogate: (z >= 0).to(z.dtype))
    x = {nm: torch.zeros(shape, dtype=torch.float64, requires_grad=True) for nm in names}
    out = tm.transition(x, torch.zeros(shape, dtype=torch.float64), ops)
    J = np.zeros((*shape, len(names), len(names)))
    for i, nm in enumerate(names):
        if not out[nm].requires_grad:
            continue
        grads = torch.autograd.grad(
            out[nm].sum(), [x[k] for k in names], retain_graph=True, allow_unused=True
        )
        for j, g in enumerate(grads):
            if g is not None:
                J[..., i, j] = g.detach().numpy()
    return J


def input_vector(model: NeuronModel) -> np.ndarray:
    """b = d x[t] / d I[t] below threshold, shape (*P, n) (e.g. (1, beta2) for LSTM-LIF)."""
    m = _numeric_model(model)
    names = m.state_names
    shape = _param_shape(m)
    zeros = np.zeros(shape)
    state = dict.fromkeys(names, zeros)
    base = m.transition(state, zeros, NUMPY_OPS)
    out = m.transition(state, zeros + 1.0, NUMPY_OPS)
    b = np.empty((*shape, len(names)))
    for i, nm in enumerate(names):
        b[..., i] = np.asarray(out[nm]) - np.asarray(base[nm])
    return b


def _eigs(J: np.ndarray) -> np.ndarray:
    lam = np.linalg.eigvals(J).astype(np.complex128)
    # Sort by decreasing modulus, ties by decreasing imaginary part (the +theta root first).
    key = np.lexsort((-lam.imag, -np.abs(lam)), axis=-1)
    return np.take_along_axis(lam, key, axis=-1)


def eigenvalues(model: NeuronModel) -> np.ndarray:
    """Eigenvalues of the sub-threshold J, complex, shape (*P, n), by decreasing modulus."""
    return _eigs(subthreshold_jacobian(model))


def spectral_radius(model: NeuronModel) -> np.ndarray:
    """rho(J) = max |lambda|, shape P."""
    return np.max(np.abs(eigenvalues(model)), axis=-1)


def period(model: NeuronModel) -> np.ndarray:
    """Oscillation period 2 pi / theta in steps, theta = |arg lambda|, where J has a complex
    pair; NaN where all eigenvalues are real (and for one-dimensional models). Shape P."""
    return _period_of(eigenvalues(model))


def _period_of(lam: np.ndarray) -> np.ndarray:
    """``period`` from eigenvalues ``lam`` of shape (*P, n)."""
    theta = np.max(np.abs(np.angle(lam)) * (lam.imag != 0), axis=-1)
    with np.errstate(divide="ignore"):
        return np.where(theta > 0, 2 * np.pi / np.where(theta > 0, theta, 1.0), np.nan)


def jury_conditions(det: Any, tr: Any) -> dict[str, np.ndarray]:
    """Jury / Schur-Cohn test of a real 2x2 map from det J and tr J (broadcasting).

    Both eigenvalues lie strictly inside the unit circle iff |det| < 1 and |tr| < 1 + det.
    Returns ``det_margin`` = 1 - |det|, ``trace_margin`` = 1 + det - |tr| and ``stable`` (both
    margins > 0); a zero margin puts an eigenvalue on the unit circle.
    """
    det = np.asarray(det, dtype=np.float64)
    tr = np.asarray(tr, dtype=np.float64)
    if not (np.all(np.isfinite(det)) and np.all(np.isfinite(tr))):
        raise ValueError("jury_conditions: det and tr must be finite")
    det_margin = 1.0 - np.abs(det)
    trace_margin = 1.0 + det - np.abs(tr)
    return {
        "det_margin": det_margin,
        "trace_margin": trace_margin,
        "stable": (det_margin > 0) & (trace_margin > 0),
    }


def schur_cohn_conditions(J: Any) -> dict[str, np.ndarray]:
    """Schur-Cohn test of a real n x n map (any n, broadcasting over leading axes of J).

    With a_i the coefficients of det(lambda I - J) = lambda^n + a_1 lambda^(n-1) + ... + a_n,
    the step-down recursion k_m = a_m, a_i <- (a_i - k_m a_(m-i)) / (1 - k_m^2) (m = n..1)
    gives the reflection coefficients k_n..k_1; every eigenvalue lies strictly inside the unit
    circle iff |k_m| < 1 for all m (for n = 2 these are the Jury conditions: k_2 = det J,
    k_1 = -tr J / (1 + det J)). Returns ``reflection`` (..., n) (k_n first; NaN after a
    |k_m| = 1 exactly, where the recursion divides by 0), ``margins`` 1 - |k_m| and ``stable``.
    """
    J = _as_matrix_stack(J)
    n = J.shape[-1]
    lam = np.linalg.eigvals(J)
    coeffs = np.zeros((*J.shape[:-2], n + 1), dtype=np.complex128)
    coeffs[..., 0] = 1.0
    for i in range(n):  # expand prod (lambda - lambda_i), leading coefficient first
        coeffs[..., 1:] = coeffs[..., 1:] - lam[..., i : i + 1] * coeffs[..., :-1]
    a = coeffs.real
    ks = np.full((*J.shape[:-2], n), np.nan)
    for col, m in enumerate(range(n, 0, -1)):
        k = a[..., m].copy()
        ks[..., col] = k
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = 1.0 - k * k
            nxt = a.copy()
            for i in range(1, m):
                nxt[..., i] = (a[..., i] - k * a[..., m - i]) / denom
        a = np.where((denom == 0.0)[..., None], np.nan, nxt)
    margins = 1.0 - np.abs(ks)
    stable = np.all(margins > 0, axis=-1)
    return {"reflection": ks, "margins": margins, "stable": stable}


def _classify_matrix(J: np.ndarray, tol: float = MARGINAL_TOL) -> np.ndarray:
    n = J.shape[-1]
    if n == 1:
        margin = 1.0 - np.abs(J[..., 0, 0])
        complex_pair = np.zeros(margin.shape, dtype=bool)
    elif n == 2:
        det = J[..., 0, 0] * J[..., 1, 1] - J[..., 0, 1] * J[..., 1, 0]
        tr = J[..., 0, 0] + J[..., 1, 1]
        jc = jury_conditions(det, tr)
        margin = np.minimum(jc["det_margin"], jc["trace_margin"])
        with np.errstate(over="ignore"):  # tr^2 beyond float64 is inf: a real pair, rightly
            complex_pair = tr * tr < 4 * det
    else:
        lam = np.linalg.eigvals(J)
        margin = 1.0 - np.max(np.abs(lam), axis=-1)
        complex_pair = np.any(lam.imag != 0, axis=-1)
    return _label(margin, complex_pair, tol)


def _label(margin: np.ndarray, complex_pair: np.ndarray, tol: float = MARGINAL_TOL) -> np.ndarray:
    """The class from a stability margin (> 0 inside the unit circle) and whether a complex
    pair is present (``LABELS``)."""
    margin = np.asarray(margin, dtype=np.float64)
    complex_pair = np.broadcast_to(np.asarray(complex_pair, dtype=bool), margin.shape)
    out = np.full(margin.shape, "marginal", dtype="<U20")
    out[margin < -tol] = "growing"
    decaying = margin > tol
    out[decaying & complex_pair] = "oscillating-decaying"
    out[decaying & ~complex_pair] = "decaying"
    return out


def classify(model: NeuronModel) -> np.ndarray:
    """Label each parameter point: "decaying", "oscillating-decaying" (complex pair inside the
    unit circle), "marginal" (|lambda| = 1 within ``MARGINAL_TOL`` of a Jury margin) or
    "growing" (an eigenvalue outside the unit circle). Jury conditions for n = 2, |J| for n = 1,
    the spectral radius for n >= 3. Shape P, dtype str."""
    return _classify_matrix(subthreshold_jacobian(model))


def memory_horizon(model: NeuronModel) -> np.ndarray:
    """-1 / ln rho(J) in steps (the e-folding time of the slowest mode) where
    rho < 1 - ``MARGINAL_TOL``; inf otherwise (marginal or growing). Shape P."""
    return _horizon_of(spectral_radius(model))


def _horizon_of(rho: Any) -> np.ndarray:
    """``memory_horizon`` from the spectral radius ``rho`` (any shape; 0 where rho = 0: a
    nilpotent J forgets at once)."""
    rho = np.asarray(rho, dtype=np.float64)
    decays = rho < 1.0 - MARGINAL_TOL
    with np.errstate(divide="ignore"):
        return np.where(decays, -1.0 / np.log(np.where(decays, rho, 0.5)), np.inf)


# ----------------------------------------------------------------------------- power norms


def _matrix_norm(M: np.ndarray, ord: Any) -> np.ndarray:
    if ord == 1:
        return np.max(np.sum(np.abs(M), axis=-2), axis=-1)
    if ord in (np.inf, "inf"):
        return np.max(np.sum(np.abs(M), axis=-1), axis=-1)
    if ord == 2 and M.shape[-1] == 2:
        return _norm2_2x2(M[..., 0, 0], M[..., 0, 1], M[..., 1, 0], M[..., 1, 1])
    return np.linalg.norm(M, ord=ord, axis=(-2, -1))


MAX_KMAX = 1_000_000
"""Largest horizon of the power sweeps: about 10 us per step and norm for one parameter point
(measured), so 1e6 steps take about 10 s per norm."""


def _norm2_2x2(a: Any, b: Any, c: Any, d: Any) -> np.ndarray:
    """Largest singular value of [[a, b], [c, d]] (arrays): s^2 = (F + sqrt(F^2 - 4 det^2)) / 2
    with F the squared Frobenius norm, computed on the entries scaled by their largest modulus
    so that squares neither overflow nor underflow."""
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), np.maximum(np.abs(c), np.abs(d)))
    # entries within 1e+-70 are squared twice without harm: no scaling, no extra rounding
    safe = np.where((scale > 1e70) | ((scale < 1e-70) & (scale > 0)), scale, 1.0)
    a, b, c, d = a / safe, b / safe, c / safe, d / safe
    fro2 = a * a + b * b + c * c + d * d
    det = a * d - b * c
    return safe * np.sqrt(0.5 * (fro2 + np.sqrt(np.maximum(fro2 * fro2 - 4 * det * det, 0.0))))


def _check_kmax_ord(kmax: Any, ord: Any) -> int:
    if isinstance(kmax, bool) or not isinstance(kmax, (int, np.integer)) or kmax < 0:
        raise ValueError(f"kmax must be an integer >= 0, got {kmax!r}")
    if kmax > MAX_KMAX:
        raise ValueError(
            f"kmax {kmax} is above the limit {MAX_KMAX} (about 10 us per step and norm: "
            f"{kmax:.3g} steps would take about {kmax * 2e-5 / 60:.3g} min); a growing map's "
            "norm is already reported in log10, and a decaying one's supremum is reached early"
        )
    if ord not in (1, 2, np.inf, "inf"):
        raise ValueError(f"ord must be 1, 2 or inf, got {ord!r}")
    return int(kmax)


def _power_sweep(J: np.ndarray, kmax: int, ord: Any, store: bool) -> np.ndarray:
    """log10 ||J^k|| for k = 0..kmax (store) or its running maximum (not store).

    M_k = J^k / c_k with log10 c_k accumulated; M is renormalised to norm 1 every step, so
    nothing under- or overflows. A zero product gives -inf from then on (exactly).
    """
    n = J.shape[-1]
    batch = J.shape[:-2]
    log_c = np.zeros(batch)
    out = np.empty((*batch, kmax + 1)) if store else np.zeros(batch)
    if store:
        out[..., 0] = 0.0
    if n == 2:
        step = _step_2x2(J, ord)
    else:
        M = np.broadcast_to(np.eye(n), J.shape).copy()

        def step() -> np.ndarray:
            nonlocal M
            M = J @ M
            nrm = _matrix_norm(M, ord)
            M = M / np.where(nrm > 0, nrm, 1.0)[..., None, None]
            return nrm

    for k in range(1, kmax + 1):
        nrm = step()
        with np.errstate(divide="ignore"):
            log_c = log_c + np.log10(nrm)
        if store:
            out[..., k] = log_c
        else:
            out = np.maximum(out, log_c)
    return out


def _step_2x2(J: np.ndarray, ord: Any) -> Any:
    """The 2x2 case of one renormalised multiplication M <- J M / ||J M||, written on the four
    entry arrays (much faster than batched matmul of tiny matrices); returns ||J M||."""
    a, b, c, d = (np.array(J[..., i, j]) for i in (0, 1) for j in (0, 1))
    m = [np.ones(a.shape), np.zeros(a.shape), np.zeros(a.shape), np.ones(a.shape)]

    def step() -> np.ndarray:
        m00, m01, m10, m11 = m
        n00, n01 = a * m00 + b * m10, a * m01 + b * m11
        n10, n11 = c * m00 + d * m10, c * m01 + d * m11
        if ord == 1:
            nrm = np.maximum(np.abs(n00) + np.abs(n10), np.abs(n01) + np.abs(n11))
        elif ord == 2:
            nrm = _norm2_2x2(n00, n01, n10, n11)
        else:
            nrm = np.maximum(np.abs(n00) + np.abs(n01), np.abs(n10) + np.abs(n11))
        scale = 1.0 / np.where(nrm > 0, nrm, 1.0)
        m[:] = [n00 * scale, n01 * scale, n10 * scale, n11 * scale]
        return nrm

    return step


def log10_power_norms(J: Any, kmax: int, ord: Any = 2) -> np.ndarray:
    """log10 ||J^k||_ord for k = 0..kmax, shape (..., kmax + 1) for J of shape (..., n, n).

    Accumulated in log space with renormalisation every step: LIF alpha = 0.8 over k = 10000
    steps gives 10000 log10(0.8) = -969.1, not -inf. ord is 1, 2 or inf.
    """
    kmax = _check_kmax_ord(kmax, ord)
    return _power_sweep(_as_matrix_stack(J), kmax, ord, store=True)


def log10_sup_power_norm(model: NeuronModel, ord: Any = 2, kmax: int = 10000) -> np.ndarray:
    """log10 of max over 0 <= k <= kmax of ||J^k||_ord (>= 0 since J^0 = I), shape P.

    Streams over k (memory O(P)), so parameter grids are cheap to sweep."""
    kmax = _check_kmax_ord(kmax, ord)
    return _power_sweep(subthreshold_jacobian(model), kmax, ord, store=False)


def sup_power_norm(model: NeuronModel, ord: Any = 2, kmax: int = 10000) -> np.ndarray:
    """max over 0 <= k <= kmax of ||J^k||_ord (the transient amplification), shape P.

    A finite-horizon supremum: >= 1 (k = 0). For growing maps it is ||J^kmax|| and grows with
    kmax; values beyond the float64 range (log10 > 308) are returned as inf. Use
    ``log10_sup_power_norm`` for the exact log10 value in that case.
    """
    with np.errstate(over="ignore"):
        return np.power(10.0, log10_sup_power_norm(model, ord=ord, kmax=kmax))


# ------------------------------------------------------------------------- LSTM-LIF closed forms


def lstmlif_theta(beta1: Any, beta2: Any) -> np.ndarray:
    """theta with cos(theta) = 1 + beta1 beta2 / 2, for -4 < beta1 beta2 < 0 (a complex pair on
    the unit circle). Computed as 2 arcsin(sqrt(-beta1 beta2) / 2), accurate for small
    |beta1 beta2|. Raises ValueError outside the oscillating region."""
    b1 = np.asarray(beta1, dtype=np.float64)
    b2 = np.asarray(beta2, dtype=np.float64)
    if not (np.all(np.isfinite(b1)) and np.all(np.isfinite(b2))):
        raise ValueError("beta1 and beta2 must be finite")
    prod = b1 * b2
    if np.any((prod >= 0) | (prod <= -4)):
        raise ValueError(
            "the closed forms need -4 < beta1*beta2 < 0 (0 < theta < pi); got beta1*beta2 = "
            f"{prod[(prod >= 0) | (prod <= -4)].ravel()[:3]}"
        )
    return 2.0 * np.arcsin(np.sqrt(-prod) / 2.0)


def _check_k(k: Any) -> np.ndarray:
    k = np.asarray(k)
    if k.dtype == bool or not np.issubdtype(k.dtype, np.integer) or np.any(k < 0):
        raise ValueError(f"k must be integers >= 0, got {k!r}")
    return k.astype(np.float64)


def lstmlif_power_closed_form(beta1: Any, beta2: Any, k: Any) -> np.ndarray:
    """J^k for LSTM-LIF (state (d, s)), shape (..., 2, 2) broadcasting beta1, beta2, k.

    [d,d] = cos((k - 1/2) theta) / cos(theta/2), [s,s] = cos((k + 1/2) theta) / cos(theta/2),
    [d,s] = beta1 sin(k theta) / sin(theta), [s,d] = beta2 sin(k theta) / sin(theta).
    """
    theta = lstmlif_theta(beta1, beta2)
    k = _check_k(k)
    b1, b2, theta, k = np.broadcast_arrays(
        np.asarray(beta1, dtype=np.float64), np.asarray(beta2, dtype=np.float64), theta, k
    )
    half = np.cos(theta / 2)
    sin_t = np.sin(theta)
    out = np.empty((*theta.shape, 2, 2))
    out[..., 0, 0] = np.cos((k - 0.5) * theta) / half
    out[..., 1, 1] = np.cos((k + 0.5) * theta) / half
    out[..., 0, 1] = b1 * np.sin(k * theta) / sin_t
    out[..., 1, 0] = b2 * np.sin(k * theta) / sin_t
    return out


def lstmlif_impulse_closed_form(beta1: Any, beta2: Any, k: Any) -> np.ndarray:
    """d s[t+k] / d I[t] = beta2 sin((k + 1) theta) / sin(theta) below threshold (broadcast)."""
    theta = lstmlif_theta(beta1, beta2)
    k = _check_k(k)
    return np.asarray(beta2, dtype=np.float64) * np.sin((k + 1) * theta) / np.sin(theta)


# ------------------------------------------------------------------- exact spectrum (scalars)


def _fraction(value: Any) -> Any:
    """A finite real scalar as the exact rational it stores (floats are dyadic rationals);
    flags (booleans, None) as they are."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return value
    if np.ndim(value) != 0:
        raise TypeError("not a real scalar")
    v = float(np.asarray(value))
    if not math.isfinite(v):
        raise TypeError("not finite")
    return Fraction(v)


def _exact_spike(x: Any, surrogate: Any) -> Fraction:
    return Fraction(1) if x >= 0 else Fraction(0)


#: The NumPy view with exact rational arithmetic: a step written with ``+ - * /`` and the
#: spike runs on ``fractions.Fraction`` without rounding (exp, sigmoid and friends do not).
EXACT_OPS = dataclasses.replace(
    NUMPY_OPS, name="exact", spike=_exact_spike, zeros_like=lambda x: Fraction(0)
)


def exact_jacobian(model: NeuronModel) -> list[list[Fraction]] | None:
    """The sub-threshold J of a scalar-parameter model in exact rational arithmetic.

    The step runs on ``Fraction`` copies of its float64 coefficients, so an entry such as
    `1 + beta1 beta2` keeps its 1 beside `beta1 beta2 = 5e199`.

    Parameters
    ----------
    model : NeuronModel
        A model with scalar parameters (tensors are read detached).

    Returns
    -------
    list of list of Fraction or None
        The `n x n` entries, row `i` = `d x_i[t]`, column `j` = `d x_j[t-1]` (``state_names``
        order); None where exact arithmetic is not possible (array parameters, a step that
        uses exp or sigmoid of a state, or a map that is not affine along a state axis below
        threshold).
    """
    m = _numeric_model(model)
    if _param_shape(m) != ():
        return None
    names = m.state_names
    try:
        p = m.coefficients(NUMPY_OPS).map(_fraction)
        zero = dict.fromkeys(names, Fraction(0))

        def run(x: dict) -> dict:
            state = dict(x)
            state["S"] = EXACT_OPS.spike(m.spike_argument(p, state, EXACT_OPS), None)
            new, _ = m.step(p, state, Fraction(0), EXACT_OPS)
            return {k: new[k] for k in names}

        base = run(zero)
        fzeros = np.zeros(())
        fp = m.coefficients(NUMPY_OPS)
        J = [[Fraction(0)] * len(names) for _ in names]
        for j, nm in enumerate(names):
            h = Fraction(int(_safe_perturbation(m, fp, names, j, fzeros)))
            for step in (h, h / 2):
                out = run({**zero, nm: step})
                col = [(out[k] - base[k]) / step for k in names]
                if not all(isinstance(v, Fraction) for v in col):
                    return None
                if step == h:
                    for i in range(len(names)):
                        J[i][j] = col[i]
                elif col != [J[i][j] for i in range(len(names))]:
                    return None  # not affine along this state: the float path differentiates
    except (TypeError, ValueError, AttributeError, ZeroDivisionError, OverflowError):
        return None
    return J


def _exact_det(J: list[list[Fraction]]) -> Fraction:
    """det J by Gaussian elimination in exact rationals (any n)."""
    A = [row[:] for row in J]
    n, det = len(A), Fraction(1)
    for c in range(n):
        piv = next((r for r in range(c, n) if A[r][c] != 0), None)
        if piv is None:
            return Fraction(0)
        if piv != c:
            A[c], A[piv] = A[piv], A[c]
            det = -det
        det *= A[c][c]
        for r in range(c + 1, n):
            f = A[r][c] / A[c][c]
            if f:
                A[r] = [a - f * b for a, b in zip(A[r], A[c], strict=True)]
    return det


def _charpoly(J: list[list[Fraction]]) -> list[Fraction]:
    """Coefficients of det(lambda I - J), leading 1 first, exactly (Faddeev-LeVerrier)."""
    n = len(J)
    M = [[Fraction(0)] * n for _ in range(n)]
    coeffs = [Fraction(1)]
    for k in range(1, n + 1):
        # M <- J M + c_{k-1} I, c_k = -tr(J M_k) / k
        JM = [[sum(J[i][t] * M[t][j] for t in range(n)) for j in range(n)] for i in range(n)]
        M = [[JM[i][j] + (coeffs[-1] if i == j else 0) for j in range(n)] for i in range(n)]
        JM = [[sum(J[i][t] * M[t][j] for t in range(n)) for j in range(n)] for i in range(n)]
        coeffs.append(-sum(JM[i][i] for i in range(n)) / k)
    return coeffs


def _mpf(x: Fraction) -> Any:
    import mpmath

    return mpmath.mpf(x.numerator) / x.denominator


def _exact_roots(coeffs: list[Fraction]) -> np.ndarray | None:
    """The roots of a polynomial with exact coefficients, each to float64 precision: for
    degree 2 the larger-modulus root from trace and discriminant (no cancellation: both
    terms have one sign) and the other as det / that root; above, mpmath's polynomial
    roots at a working precision beyond the coefficients' span of magnitudes."""
    import mpmath

    n = len(coeffs) - 1
    nonzero = [abs(c) for c in coeffs if c != 0]
    span = max(c.numerator.bit_length() - c.denominator.bit_length() for c in nonzero) - min(
        c.numerator.bit_length() - c.denominator.bit_length() for c in nonzero
    )
    with mpmath.workprec(min(128 + 2 * span, 40000)):
        if n == 1:
            roots = [-_mpf(coeffs[1])]
        elif n == 2:
            tr, det = -coeffs[1], coeffs[2]
            disc = tr * tr - 4 * det  # exact
            if disc >= 0:
                root = mpmath.sqrt(_mpf(disc))
                if tr == 0:
                    roots = [root / 2, -root / 2]
                else:
                    big = (_mpf(tr) + mpmath.sign(_mpf(tr)) * root) / 2
                    roots = [big, _mpf(det) / big]
            else:
                im = mpmath.sqrt(_mpf(-disc)) / 2
                roots = [mpmath.mpc(_mpf(tr) / 2, im), mpmath.mpc(_mpf(tr) / 2, -im)]
        else:
            try:
                roots = mpmath.polyroots([_mpf(c) for c in coeffs], maxsteps=200, extraprec=64)
            except mpmath.libmp.NoConvergence:
                return None
        lam = np.array([complex(mpmath.mpc(r)) for r in roots], dtype=np.complex128)
    lam.real[np.abs(lam.real) == 0] = 0.0
    lam.imag[np.abs(lam.imag) == 0] = 0.0
    return lam


def exact_spectrum(model: NeuronModel) -> dict[str, Any] | None:
    """`det J`, `tr J` and the eigenvalues of a scalar-parameter model's sub-threshold J from
    ``exact_jacobian``.

    The determinant and trace are exact, then rounded once; the eigenvalues are the roots of
    the exact characteristic polynomial to float64 precision, even where they span 400 orders
    of magnitude. For LSTM-LIF at `beta1 = 1e200`, `beta2 = 0.5`: `det J = 1` exactly,
    eigenvalues `5e199` and `2e-200`.

    Parameters
    ----------
    model : NeuronModel
        A model with scalar parameters.

    Returns
    -------
    dict or None
        ``jacobian`` (float64 ``(n, n)``), ``det`` and ``trace`` (floats), ``det_exact`` and
        ``trace_exact`` (Fractions), ``eigenvalues`` (complex ``(n,)``, by decreasing
        modulus); None where the exact Jacobian is not available (``exact_jacobian``).
    """
    J = exact_jacobian(model)
    if J is None:
        return None
    n = len(J)
    det = _exact_det(J)
    tr = sum((J[i][i] for i in range(n)), Fraction(0))
    coeffs = _charpoly(J) if n > 2 else [Fraction(1), -tr, det][: n + 1]
    lam = _exact_roots(coeffs)
    if lam is None:
        return None
    key = np.lexsort((-lam.imag, -np.abs(lam)))
    with np.errstate(over="ignore"):
        floats = np.array([[float(v) if abs(v) < 2**1024 else math.inf for v in r] for r in J])
    return {
        "jacobian": floats,
        "det": _float(det),
        "trace": _float(tr),
        "det_exact": det,
        "trace_exact": tr,
        "eigenvalues": lam[key],
    }


def _float(x: Fraction) -> float:
    """A rational rounded once to float64 (inf beyond its range)."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


# ----------------------------------------------------------------------------- inspect


def inspect_model(model: NeuronModel, kmax: int = 10000) -> dict[str, Any]:
    """Every sub-threshold quantity of one (scalar-parameter) model as plain Python values.

    Where the step allows it (``exact_spectrum``) det J, tr J, the Jury margins and the
    eigenvalues come from the exact rational Jacobian, so no cancellation loses them (LSTM-LIF
    at beta1 = 1e200: det J = 1, eigenvalues 5e199 and 2e-200); tensor parameters that require
    grad are analysed on detached copies."""
    m = _numeric_model(model)
    J = subthreshold_jacobian(m)
    if J.ndim != 2:
        raise ValueError("inspect: give scalar parameters (one parameter point)")
    exact = exact_spectrum(m)
    lam = exact["eigenvalues"] if exact is not None else _eigs(J)
    n = J.shape[-1]
    rho = float(np.max(np.abs(lam)))
    report: dict[str, Any] = {
        "model": type(m).__name__,
        "convention": m.convention,
        "reset": m.reset,
        "params": {k: float(np.asarray(v)) for k, v in m.params().items()},
        "state_names": list(m.state_names),
        "jacobian": J.tolist(),
        "eigenvalues": [[float(z.real), float(z.imag)] for z in lam],
        "spectral_radius": rho,
        "period": float(_period_of(lam)),
        "log10_sup_norm_1": float(log10_sup_power_norm(m, ord=1, kmax=kmax)),
        "log10_sup_norm_2": float(log10_sup_power_norm(m, ord=2, kmax=kmax)),
        "kmax": kmax,
        "memory_horizon": float(_horizon_of(rho)),
        "exact": exact is not None,
    }
    with np.errstate(over="ignore"):
        for o in (1, 2):
            report[f"sup_norm_{o}"] = float(np.power(10.0, report[f"log10_sup_norm_{o}"]))
    complex_pair = bool(np.any(lam.imag != 0))
    if n == 2:
        if exact is not None:
            det_q, tr_q = exact["det_exact"], exact["trace_exact"]
            det, tr = exact["det"], exact["trace"]
            jc = {
                "det_margin": _float(1 - abs(det_q)),
                "trace_margin": _float(1 + det_q - abs(tr_q)),
            }
            jc["stable"] = jc["det_margin"] > 0 and jc["trace_margin"] > 0
        else:
            det = float(J[0, 0] * J[1, 1] - J[0, 1] * J[1, 0])
            tr = float(J[0, 0] + J[1, 1])
            jc = jury_conditions(det, tr)
        margin = min(float(jc["det_margin"]), float(jc["trace_margin"]))
        report.update(
            det=det,
            trace=tr,
            jury={k: (bool(v) if k == "stable" else float(v)) for k, v in jc.items()},
        )
    elif n >= 3:
        sc = schur_cohn_conditions(J)
        margin = 1.0 - rho
        report.update(
            det=exact["det"] if exact is not None else float(np.linalg.det(J)),
            trace=exact["trace"] if exact is not None else float(np.trace(J)),
            schur_cohn={
                "reflection": [float(k) for k in sc["reflection"]],
                "margins": [float(k) for k in sc["margins"]],
                "stable": bool(sc["stable"]),
            },
        )
    else:
        margin = 1.0 - rho
    report["class"] = str(_label(np.asarray(margin), np.asarray(complex_pair)))
    return report


def _parse_param(text: str) -> tuple[str, float]:
    if "=" not in text:
        raise ValueError(f"--param expects NAME=VALUE, got {text!r}")
    name, value = (s.strip() for s in text.split("=", 1))
    if not name:
        raise ValueError(f"--param expects NAME=VALUE, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"--param {name}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"--param {name}: must be finite, got {value!r}")
    return name, number


def parse_params(texts: list[str]) -> dict[str, float]:
    """``--param NAME=VALUE`` options as a dict; a name given twice is refused (ValueError
    naming it and both values), never silently the last one."""
    params: dict[str, float] = {}
    for text in texts:
        name, value = _parse_param(text)
        if name in params:
            raise ValueError(
                f"--param {name} is given twice ({params[name]:g} and {value:g}); give it once"
            )
        params[name] = value
    return params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif inspect MODEL --param NAME=VALUE ...``."""
    parser.add_argument(
        "model", nargs="?", default=None, help="a registered model: " + ", ".join(model_names())
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a model parameter, e.g. --param beta1=-0.5 (repeatable)",
    )
    parser.add_argument(
        "--logits",
        nargs=2,
        type=float,
        metavar=("C1", "C2"),
        help="LSTM-LIF only: beta1 = -sigmoid(C1), beta2 = sigmoid(C2)",
    )
    parser.add_argument(
        "--convention", choices=("paper", "code"), default=None, help="default: the model's own"
    )
    parser.add_argument("--kmax", type=int, default=10000, help="horizon of sup_k ||J^k||")


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _fixed(x: float, digits: int = 6) -> str:
    """Fixed point for ordinary magnitudes; scientific where fixed point would print a
    2e-200 as 0.000000 or a 5e199 as 200 digits."""
    if x == 0 or not math.isfinite(x) or 1e-4 <= abs(x) < 1e9:
        return f"{x:.{digits}f}"
    return f"{x:.{digits}e}"


def run(args: argparse.Namespace) -> int:
    """Print the sub-threshold analysis of one model (text, or JSON with ``--json``; non-finite
    numbers appear in JSON as the strings "inf" / "nan")."""
    if args.model is None:
        raise ValueError("give a registered MODEL, or --nir FILE --dt DT for a NIR graph")
    params = parse_params(args.param)
    if args.kmax < 0:
        raise ValueError(f"--kmax must be >= 0, got {args.kmax}")
    if args.kmax > MAX_KMAX:
        raise ValueError(f"--kmax {args.kmax} is above the limit {MAX_KMAX}")
    if args.logits is not None:
        probe = get_model(args.model)
        if not isinstance(probe, LSTMLIF):
            raise ValueError("--logits applies to lstmlif / tclif only")
        if {"beta1", "beta2"} & set(params):
            raise ValueError("give either --logits or --param beta1/beta2, not both")
        if args.convention is not None:
            params["convention"] = args.convention
        model = LSTMLIF.from_logits(*args.logits, **params)
    else:
        if args.convention is not None:
            params["convention"] = args.convention
        model = get_model(args.model, **params)
    rep = inspect_model(model, kmax=args.kmax)
    if args.json:
        print(json.dumps(jsonable(rep), indent=2))
        return 0
    names = rep["state_names"]
    lines = [f"{rep['model']} ({rep['convention']} convention), sub-threshold (psi = 0)"]
    lines.append("parameters: " + ", ".join(f"{k}={_fmt(v)}" for k, v in rep["params"].items()))
    lines.append(f"Jacobian d({', '.join(names)})[t] / d({', '.join(names)})[t-1]:")
    for name, row in zip(names, rep["jacobian"], strict=True):
        lines.append(f"  {name}: " + "  ".join(" " * (v >= 0) + _fixed(v) for v in row))
    if "schur_cohn" in rep:
        sc = rep["schur_cohn"]
        lines.append(f"det J = {_fmt(rep['det'])}, tr J = {_fmt(rep['trace'])}")
        lines.append(
            "Schur-Cohn margins 1-|k_m| (m = n..1; all > 0 <=> |lambda| < 1): "
            + ", ".join(_fmt(v) for v in sc["margins"])
        )
    elif "det" in rep:
        jc = rep["jury"]
        lines.append(f"det J = {_fmt(rep['det'])}, tr J = {_fmt(rep['trace'])}")
        lines.append(
            f"Jury margins: 1-|det| = {_fmt(jc['det_margin'])}, "
            f"1+det-|tr| = {_fmt(jc['trace_margin'])}"
        )
    eig = ", ".join(
        f"{_fixed(re)}{'+' if im >= 0 else '-'}{_fixed(abs(im))}i" for re, im in rep["eigenvalues"]
    )
    lines.append(f"eigenvalues: {eig}")
    lines.append(f"spectral radius: {_fixed(rep['spectral_radius'], 10)}")
    lines.append(f"class: {rep['class']}")
    per = rep["period"]
    lines.append("period: " + ("none (real eigenvalues)" if math.isnan(per) else f"{per:.4f}"))
    for o in (1, 2):
        lines.append(
            f"sup_(k<={rep['kmax']}) ||J^k||_{o} = {_fmt(rep[f'sup_norm_{o}'])} "
            f"(log10 {rep[f'log10_sup_norm_{o}']:.4f})"
        )
    mh = rep["memory_horizon"]
    lines.append("memory horizon -1/ln rho: " + (f"{mh:.4f} steps" if math.isfinite(mh) else "inf"))
    print("\n".join(lines))
    return 0
