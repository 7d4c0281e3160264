"""The flossing anchor's own setting, reproduced: a recurrent layer of N = 64 current-based LIF
neurons with the reset left out, hard threshold forward, the surrogate derivative in the
Jacobian, QR every step, 50 exponents. The toolkit's spectrum (the registered NIR CubaLIF model
in the snntorch scheme, through ``analysis.flossing`` and ``analysis.lyapunov``) against an
independent NumPy implementation written here from the equations (its own simulation, its own
Jacobian, its own Gram-Schmidt QR).

The setting (the surrogate-gradient-flossing paper's minimal example, its time constants and
input statistics): dt = 1 ms, tau_syn = 5 ms, tau_mem = 10 ms, so alpha = exp(-1/5) and
beta = exp(-1/10); C = 100 input channels, each a Bernoulli(0.1) spike per step (10 Hz);
W_in ~ N(0, 1/C) and W_rec ~ N(0, 1/N), each row centred to mean 0; threshold 1; surrogate
psi(x) = 1 / (1 + 5 |x|)^2 (fast sigmoid, slope 5). Equations, per neuron i:

    syn_i[t] = alpha syn_i[t-1] + sum_c W_in[i,c] x_c[t] + sum_j W_rec[i,j] S_j[t-1]
    mem_i[t] = beta mem_i[t-1] + (1 - beta) syn_i[t],     S_i[t] = H(mem_i[t] - 1)

and the Jacobian of (mem, syn)[t] with respect to (mem, syn)[t-1], P = diag(psi(mem[t-1] - 1)):

    d mem/d mem = beta I + (1 - beta) W_rec P,   d mem/d syn = (1 - beta) alpha I,
    d syn/d mem = W_rec P,                        d syn/d syn = alpha I.
"""

from __future__ import annotations

import numpy as np
import torch

from lstmlif.analysis import flossing as F
from lstmlif.analysis import lyapunov as L
from lstmlif.neurons import get_model
from lstmlif.neurons.surrogates import FastSigmoid

N, C, P_IN, K = 64, 100, 0.1, 50
ALPHA, BETA = float(np.exp(-1 / 5)), float(np.exp(-1 / 10))
T, WARMUP, BURN = 500, 50, 50


def _setting(seed: int = 2023) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w_in = rng.normal(0.0, 1 / np.sqrt(C), (N, C))
    w_in -= w_in.mean(axis=1, keepdims=True)
    w_rec = rng.normal(0.0, 1 / np.sqrt(N), (N, N))
    w_rec -= w_rec.mean(axis=1, keepdims=True)
    x = (rng.random((T, C)) < P_IN).astype(np.float64)
    return x, w_in, w_rec


def _independent(x: np.ndarray, w_in: np.ndarray, w_rec: np.ndarray) -> tuple[np.ndarray, ...]:
    """Simulation, Jacobians and the backward QR recursion from the equations alone."""
    syn, mem, S = np.zeros(N), np.zeros(N), np.zeros(N)
    mems, spikes = np.empty((T, N)), np.empty((T, N))
    for t in range(T):
        syn = ALPHA * syn + w_in @ x[t] + w_rec @ S
        mem = BETA * mem + (1 - BETA) * syn
        S = (mem >= 1.0).astype(np.float64)
        mems[t], spikes[t] = mem, S

    def jacobian(mem_prev: np.ndarray) -> np.ndarray:  # order (mem_0..mem_63, syn_0..syn_63)
        WP = w_rec / (1 + 5 * np.abs(mem_prev - 1)) ** 2  # W_rec P: column j scaled by psi_j
        eye = np.eye(N)
        top = np.hstack([BETA * eye + (1 - BETA) * WP, (1 - BETA) * ALPHA * eye])
        return np.vstack([top, np.hstack([WP, ALPHA * eye])])

    def gram_schmidt(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classical Gram-Schmidt, each column orthogonalised twice: Q and log|diag R|."""
        Q = np.empty_like(Z)
        log_r = np.empty(Z.shape[1])
        for j in range(Z.shape[1]):
            v = Z[:, j].copy()
            for _ in range(2):
                v -= Q[:, :j] @ (Q[:, :j].T @ v)
            norm = np.sqrt(v @ v)
            Q[:, j], log_r[j] = v / norm, np.log(norm)
        return Q, log_r

    # the start frame: the first K unit vectors of the toolkit's order (neuron i, state a) ->
    # i*2 + a with states (syn, mem), i.e. syn_0, mem_0, syn_1, mem_1, ...
    Q = np.zeros((2 * N, K))
    for col in range(K):
        i, a = divmod(col, 2)
        Q[N + i if a == 0 else i, col] = 1.0
    total, counted = np.zeros(K), 0
    for done, t in enumerate(range(T - 1, WARMUP, -1)):
        Q, log_r = gram_schmidt(jacobian(mems[t - 1]).T @ Q)
        if done >= BURN:
            total += log_r
            counted += 1
    return np.sort(total / counted)[::-1], spikes


def _toolkit_model():
    # NIR's CubaLIF in the snntorch scheme is i = a_s i + g_s I, v = a_m v + (1 - a_m) r i[t]
    # with Euler decays a = 1 - dt/tau: tau = 1/(1 - alpha) gives a_s = alpha; w_in = 1/(1 -
    # a_s) gives g_s = 1; a subtractive reset to v_reset = v_th subtracts 0 (no reset)
    return get_model(
        "nir_cubalif",
        tau_syn=1 / (1 - ALPHA),
        tau_mem=1 / (1 - BETA),
        r=1.0,
        w_in=1 / (1 - ALPHA),
        v_th=1.0,
        v_reset=1.0,
        reset="subtract",
        discretization="snntorch",
        surrogate=FastSigmoid(slope=5.0),
    )


def test_anchor_spectrum_matches_an_independent_implementation():
    x, w_in, w_rec = _setting()
    reference, spikes = _independent(x, w_in, w_rec)
    assert 0.01 < spikes.mean() < 0.5  # spikes, and not everywhere
    model = _toolkit_model()
    drive = (x @ w_in.T)[:, None, :]
    with torch.no_grad():
        run = F.run_layer(model, torch.tensor(drive), torch.tensor(w_rec))
        lam = F.layer_exponents(run, K, burn=BURN, start=WARMUP + 1).numpy()[0]
    np.testing.assert_array_equal(run.spikes.numpy()[:, 0], spikes)  # the same trajectory
    trace = L.simulate_recurrent(model, drive, w_rec)
    spectrum = L.network_spectrum(trace, w_rec, start=WARMUP + 1, k=K, burn=BURN).exponents[0]
    assert lam.shape == reference.shape == (K,)
    assert np.all(np.diff(reference) <= 0) and reference[0] < 0
    # the anchor's tolerance is 1e-3; the agreement is to rounding
    assert np.max(np.abs(lam - reference)) < 1e-9
    assert np.max(np.abs(spectrum - reference)) < 1e-9
