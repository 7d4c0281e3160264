"""Hostile inputs (issue 15): each case ends in a clear error that names the problem, a correct
result, or a warning; never a traceback at the command line, a hang, or a silent wrong answer.

Classes: sizes beyond memory or time, empty input, overflow, low precision, complex parameters,
argument handling. Experiment-store and figure-writer cases live with their modules' tests
(tests/test_experiments*.py, tests/test_figures*.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from lstmlif.cli import main
from lstmlif.neurons import LIF, LSTMLIF, exact_simulate, exact_spikes, make_layer, simulate

# ----------------------------------------------------------------------------- overflow


def test_overflow_warns_with_step_and_spectral_radius():
    """LSTM-LIF at beta1 = beta2 = 0.9 grows below threshold (rho = 2.392): the states overflow.
    rho is the larger root of lambda^2 - (2 + 0.81) lambda + 1 = 0."""
    rho = (2.81 + np.sqrt(2.81**2 - 4)) / 2
    x = np.full((3000, 2), 0.3)
    with pytest.warns(RuntimeWarning, match=r"not finite from step \d+ of 3000") as rec:
        trace = simulate(LSTMLIF(beta1=0.9, beta2=0.9), x)
    assert f"{rho:.6g}" in str(rec[0].message)
    first = int(np.flatnonzero(~np.isfinite(trace.states["s"][:, 0]))[0])
    assert f"from step {first} " in str(rec[0].message)
    with pytest.warns(RuntimeWarning, match="overflowed"):
        simulate(LSTMLIF(beta1=0.9, beta2=0.9), torch.tensor(x))
    with pytest.warns(RuntimeWarning, match="overflowed"):
        exact_simulate(LSTMLIF(beta1=0.9, beta2=0.9), torch.tensor(x))


def test_no_warning_when_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simulate(LSTMLIF(), np.full((500, 3), 0.3))


# ----------------------------------------------------------------------------- empty input


@pytest.mark.parametrize("backward", ["autograd", "exact"])
def test_empty_sequence_backpropagates_zero(backward):
    layer = make_layer("lstmlif", 3, backward=backward, dtype=torch.float64)
    x = torch.zeros(0, 2, 3, dtype=torch.float64, requires_grad=True)
    out = layer(x)
    assert out.shape == (0, 2, 3)
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    for p in layer.parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) == 0.0


def test_empty_numpy_run():
    trace = simulate(LIF(), np.zeros((0, 4)))
    assert trace.spikes.shape == (0, 4) and trace.states["v"].shape == (0, 4)


# ----------------------------------------------------------------------------- precision


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_currents_refused(dtype):
    x = torch.zeros(5, 2, dtype=dtype)
    with pytest.raises(ValueError, match=f"{dtype}.*float32 or float64"):
        simulate(LIF(), x)
    with pytest.raises(ValueError, match=f"{dtype}.*float32 or float64"):
        exact_spikes(LIF(), x)


def test_complex_parameters_refused():
    with pytest.raises(ValueError, match="'alpha' must be a real number.*complex"):
        LIF(alpha=torch.tensor(0.5 + 0.1j))
    with pytest.raises(ValueError, match="'beta1' must be a real number"):
        LSTMLIF(beta1=np.array([0.5 + 1j]))


def test_layer_dtype_argument_keeps_float64_rounding():
    layer = make_layer("lif", 2, train=("alpha",), alpha=0.7, dtype=torch.float64)
    assert layer.alpha_logit.dtype == torch.float64
    assert float(torch.sigmoid(layer.alpha_logit.detach())) == pytest.approx(0.7, abs=1e-16)


# ----------------------------------------------------------------------------- sizes


def test_verify_refuses_sizes_beyond_memory(capsys):
    assert main(["verify", "--steps", "1000000000", "--batch", "4"]) == 2
    err = capsys.readouterr().err
    assert "steps x batch" in err and "lower --steps or --batch" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    "exc,code,words",
    [
        (OSError(28, "No space left on device", "/data/out/x.png"), 2, "/data/out/x.png"),
        (MemoryError(), 2, "not enough memory"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (RuntimeError("boom"), 1, "internal error: RuntimeError: boom"),
    ],
)
def test_no_traceback_reaches_the_user(monkeypatch, capsys, exc, code, words):
    from lstmlif.analysis import stability

    def explode(args):
        raise exc

    monkeypatch.setattr(stability, "run", explode)
    monkeypatch.delenv("LSTMLIF_DEBUG", raising=False)
    assert main(["inspect", "lif"]) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1


def test_debug_shows_the_traceback_of_an_internal_error(monkeypatch):
    from lstmlif.analysis import stability

    monkeypatch.setattr(stability, "run", lambda args: 1 / 0)
    monkeypatch.setenv("LSTMLIF_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["inspect", "lif"])


def test_figures_refuse_unusable_output_folders_before_any_work(capsys):
    for out, words in (("", "figures folder name is empty"), ("/proc/lstmlif-x", "cannot write")):
        assert main(["figures", "--only", "eigenvalues", "--out", out]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err


# ----------------------------------------------------------------------------- inspect, compare


def test_inspect_bounds_and_overflowing_parameters(capsys):
    assert main(["inspect", "lif", "--kmax", "1000000000"]) == 2
    assert "above the limit 1000000" in capsys.readouterr().err
    assert main(["inspect", "lstmlif", "--param", "beta1=1e300", "--param", "beta2=1e300"]) == 2
    err = capsys.readouterr().err
    assert "overflows float64" in err and "beta1=1e+300" in err and "Traceback" not in err


def test_two_norm_of_huge_entries_is_not_nan():
    """J = [[1, b1], [b2, 1 + b1 b2]] with b1 = 1e200, b2 = -1e-200: ||J||_2 is about 1e200 (its
    largest entry); squaring the entries unscaled would overflow to inf - inf = NaN."""
    from lstmlif.analysis.stability import inspect_model

    rep = inspect_model(LSTMLIF(beta1=1e200, beta2=-1e-200), kmax=50)
    assert rep["log10_sup_norm_2"] == pytest.approx(200.0, abs=1e-9)
    assert rep["log10_sup_norm_1"] == pytest.approx(200.0, abs=1e-9)


def test_compare_refuses_work_beyond_its_limits(capsys):
    assert main(["compare", "--draws", "1000000000"]) == 2
    assert "lower --draws" in capsys.readouterr().err


def test_lyapunov_refuses_an_overflowing_trajectory(capsys):
    code = main(
        ["lyapunov", "lstmlif", "--param", "beta1=0.9", "--param", "beta2=0.9", "--steps", "3000"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "trajectory overflows" in err and "2.39193" in err
