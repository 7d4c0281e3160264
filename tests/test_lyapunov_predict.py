"""analysis.lyapunov_predict and analysis.lyapunov_table: the prediction of lambda_1 from
the input statistics (never simulates; closed forms: LIF below threshold, a linear two-state
model; "not applicable" with its reason), the independent-steps estimate, the pre-registered
configurations (distinct, input-dependent, at least 90) and the committed results, and the
import direction (the measurement never imports the predictor)."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

from lstmlif.analysis import lyapunov as L
from lstmlif.analysis import lyapunov_predict as P
from lstmlif.analysis import lyapunov_table as T
from lstmlif.analysis.stability import subthreshold_jacobian
from lstmlif.neurons import LIF, LSTMLIF, get_model, model_class, simulate

ROOT = Path(__file__).resolve().parents[1]


def _no_simulation(monkeypatch):
    """Make every forward simulation and every measured spectrum raise."""

    def boom(*args, **kwargs):
        raise AssertionError("the predictor simulated the model")

    for module in (P, L):
        for name in ("simulate", "lyapunov_spectra", "estimate_spectra", "_currents"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, boom)
    monkeypatch.setattr("lstmlif.neurons.simulate", boom)
    monkeypatch.setattr("lstmlif.neurons.simulate.simulate", boom, raising=False)


# ----------------------------------------------------------------------------- never simulates


@pytest.mark.parametrize("model", [LIF(alpha=0.8), LSTMLIF()], ids=["lif", "lstmlif"])
def test_the_prediction_runs_without_any_simulation(model, monkeypatch):
    _no_simulation(monkeypatch)
    with pytest.raises(AssertionError, match="simulated"):
        P.independent_steps(model)  # the diagnostic does simulate
    pred = P.predict_top(model, grid=60 if len(model.state_names) == 2 else 300, draws=400)
    assert pred.applicable and math.isfinite(pred.top) and pred.top < 0


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        (node.module or "") if isinstance(node, ast.ImportFrom) else a.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for a in node.names
    ]


def test_imports_run_one_way_measurement_predictor_table():
    measurement = _imports(ROOT / "analysis" / "lyapunov.py")
    predictor = _imports(ROOT / "analysis" / "lyapunov_predict.py")
    assert measurement and not any("lyapunov_" in n for n in measurement)
    assert "lstmlif.analysis.lyapunov" in predictor
    assert not any("lyapunov_table" in n or "lyapunov_cli" in n for n in predictor)


# ----------------------------------------------------------------------------- closed forms


def test_lif_confined_below_threshold_predicts_log_alpha_exactly():
    # input ~ N(0.1, 0.01^2): v settles near 0.1 / 0.2 = 0.5 with std 0.01 / 0.6 = 0.017, far
    # below the rectangle's window (|v - 2| < 0.5), so psi = 0 on the whole density and
    # J = alpha: lambda = ln 0.8 exactly.
    model = LIF(alpha=0.8, v_th=2.0, surrogate="rectangle")
    pred = P.predict_top(model, 0.1, 0.01)
    assert pred.applicable and pred.method == "density-1d"
    assert pred.in_window == 0.0 and pred.rate == 0.0
    assert pred.top == pytest.approx(math.log(0.8), abs=1e-14)


def test_lif_density_has_the_ou_mean_and_variance():
    # below threshold v[t] = alpha v[t-1] + I[t] is linear: the stationary law is Gaussian
    # with mean m / (1 - alpha) and variance s^2 / (1 - alpha^2)
    model = LIF(alpha=0.8, v_th=50.0)
    dens = P.stationary_density(model, 0.3, 0.6)
    mean = float(np.sum(dens.p * dens.x))
    var = float(np.sum(dens.p * (dens.x - mean) ** 2))
    assert mean == pytest.approx(0.3 / 0.2, rel=1e-6)
    h = dens.widths[0]
    assert var == pytest.approx(0.36 / 0.36 + h**2 / 12, rel=2e-3)


def test_linear_two_state_model_predicts_log_spectral_radius():
    # TC-LIF with a threshold far above its states never spikes and psi = 0 on its whole
    # density: J is the constant sub-threshold matrix at every step, so lambda_1 = log rho(J)
    # (the matrix from analysis.stability, its eigenvalues by numpy: another path)
    model = get_model("two_compartment", alpha1=0.9, alpha2=0.85, beta1=-0.4, beta2=0.6, v_th=1e3)
    J = subthreshold_jacobian(model)
    expected = math.log(np.abs(np.linalg.eigvals(J)).max())
    assert expected < -0.01
    pred = P.predict_top(model, 0.3, 0.6, grid=40, draws=600, chains=4)
    assert pred.applicable and pred.method == "density-2d" and pred.in_window == 0.0
    assert pred.top == pytest.approx(expected, abs=2e-3)
    det = math.log(abs(np.linalg.det(J))) / 2
    assert pred.lower_bound == pytest.approx(det, abs=1e-12)


def test_lstmlif_prediction_is_near_the_measurement():
    # not a closed form: the two-state density-2d prediction against the measurement and the
    # independent-steps estimate of the default LSTM-LIF (the committed table has every row)
    model = LSTMLIF()
    pred = P.predict_top(model)
    est = L.estimate_spectrum(model, steps=1500, seeds=(0, 1, 2), batch=16, k=1)
    ind = P.independent_steps(model)
    assert abs(pred.top - ind.top) < 3 * (pred.ci95 + ind.ci95)
    assert abs(pred.top - est.top) / abs(est.top) < 0.15


# ----------------------------------------------------------------------------- not applicable


def test_not_applicable_says_why():
    cases = [
        (LIF(), 0.3, 0.0, "input std is 0"),
        (get_model("brf"), None, None, "BRF has 3 states"),
        (LIF(), 1e300, 0.6, "below the float64 resolution"),
        (LIF(alpha=np.array([0.8, 0.9])), 0.3, 0.6, "per neuron"),
    ]
    for model, mean, std, reason in cases:
        pred = P.predict_top(model, mean, std)
        assert not pred.applicable and math.isnan(pred.top)
        assert reason in pred.reason
        record = pred.as_dict()
        assert record["top"] == "not applicable" and reason in record["reason"]
    with pytest.raises(ValueError, match="input std must be >= 0"):
        P.predict_top(LIF(), 0.3, -1.0)


def test_one_state_prediction_agrees_with_the_measurement_to_its_interval():
    for model in (LIF(alpha=0.8, convention="code"), LIF(alpha=0.9, surrogate="sigmoid")):
        pred = P.predict_top(model, 0.3, 0.6)
        est = L.estimate_spectrum(model, 0.3, 0.6, steps=4000, seeds=(0, 1, 2), batch=32, k=1)
        assert pred.method == "density-1d" and pred.ci95 == 0.0
        assert abs(pred.top - est.top) < 3 * est.ci95[0] + 0.005 * abs(est.top)


def test_stationary_density_reproduces_the_simulated_firing_rate():
    model = LIF(alpha=0.8)
    dens = P.stationary_density(model, 0.3, 0.6)
    assert dens.p.sum() == pytest.approx(1.0, abs=1e-12) and np.all(dens.p >= 0)
    current = np.random.default_rng(12).normal(0.3, 0.6, (20000, 32))
    rate = simulate(model, current).spikes[100:].mean()
    assert float(dens.p[dens.x >= 1.0].sum()) == pytest.approx(rate, abs=0.005)


def test_independent_steps_is_the_shuffle_of_a_simulation():
    model = LIF(alpha=0.8, detach_reset=True)
    ind = P.independent_steps(model, 0.3, 0.6, samples=500, chains=4)
    assert ind.top == pytest.approx(math.log(0.8), abs=1e-12) and ind.ci95 < 1e-12


# ----------------------------------------------------------------------------- configurations


def test_the_registered_configurations_are_distinct_input_dependent_and_enough():
    data = T.load_configurations()
    configs = data["configurations"]
    assert len(configs) >= 90
    assert data["protocol"]["seeds"] == [0, 1, 2, 3, 4]
    keys = set()
    for config in configs:
        model = T.config_model(config)
        key = (T.dynamics_fingerprint(model), config["input_mean"], config["input_std"])
        assert key not in keys, f"duplicate configuration {config['id']}"
        keys.add(key)
        assert not T._jacobian_constant(model), config["id"]
    assert [c["id"] for c in configs] == list(range(len(configs)))


def test_fingerprints_find_models_that_are_the_same_under_other_names():
    li, lif = (model_class(n)(**model_class(n).verify_params) for n in ("nir_li", "nir_lif"))
    assert type(li) is not type(lif)
    assert T.dynamics_fingerprint(li) == T.dynamics_fingerprint(lif)
    assert T.dynamics_fingerprint(LIF(alpha=0.8)) != T.dynamics_fingerprint(LIF(alpha=0.81))
    assert T._jacobian_constant(LIF(detach_reset=True))
    assert not T._jacobian_constant(LIF())


def test_the_committed_results_cover_the_registered_configurations():
    if not T.RESULTS_FILE.is_file():
        pytest.skip("no committed results file")
    rows = T.read_results()
    configs = T.load_configurations()["configurations"]
    assert [r["id"] for r in rows] == [c["id"] for c in configs]
    for row, config in zip(rows, configs, strict=True):
        assert row["model"] == config["model"] and row["input_std"] == config["input_std"]
        assert math.isfinite(row["measured"])
        assert row["correlation_gap"] == pytest.approx(
            row["measured"] - row["independent"], abs=1e-12
        )
        if row["predicted"] is None:
            assert row["prediction_reason"]
        else:
            rel = abs(row["predicted"] - row["measured"]) / abs(row["measured"])
            assert row["rel_error_predicted"] == pytest.approx(rel, rel=1e-9)
    summary = T.error_summary(rows)
    assert summary[-1]["model"] == "all" and summary[-1]["rows"] == len(rows)


def test_prediction_table_and_summary_on_two_configurations(tmp_path):
    configs = [
        dict(model="lif", params={"alpha": 0.8}, convention="paper", reset="subtract",
             detach_reset=False, surrogate="triangle", input_mean=0.3, input_std=0.6),
        dict(model="lif", params={"alpha": 0.8}, convention="paper", reset="subtract",
             detach_reset=False, surrogate="triangle", input_mean=0.3, input_std=0.0),
    ]  # fmt: skip
    rows = T.prediction_table(configs, steps=300, seeds=(0, 1), batch=4, samples=300)
    assert rows[0]["predicted"] is not None and rows[1]["predicted"] is None
    assert rows[1]["prediction_reason"].startswith("input std is 0")
    path = T.write_results(rows, tmp_path / "r.csv")
    back = T.read_results(path)
    assert back[0]["measured"] == rows[0]["measured"] and back[1]["predicted"] is None
    summary = {s["model"]: s for s in T.error_summary(back)}
    assert summary["lif"]["predicted"]["n"] == 1 and summary["lif"]["not_applicable"] == 1
    assert summary["lif"]["independent"]["n"] == 2


def test_prediction_figure_reads_the_results(tmp_path):
    from lstmlif.figures import fig_lyapunov_prediction as F

    rows = [
        dict.fromkeys(T.RESULT_COLUMNS, 0.0)
        | dict(id=i, model=m, states=s, convention="code", reset="subtract",
               detach_reset=False, surrogate="triangle", prediction_method=pm,
               prediction_reason=pr, measured=-0.2 * (i + 1), independent=-0.21 * (i + 1),
               predicted=pv, rel_error_predicted=None if pv is None else 0.05,
               rel_error_independent=0.05)
        for i, (m, s, pm, pr, pv) in enumerate(
            [("lif", 1, "density-1d", "", -0.2), ("brf", 3, "density", "3 states", None)]
        )
    ]  # fmt: skip
    path = T.write_results(rows, tmp_path / "r.csv")
    result = F.make(tmp_path / "out", path)
    assert all(p.is_file() for p in result["paths"])
    assert len(F.plot(F.compute(path)).axes) == 2
    assert json.dumps(list(result["data"]["model"])) == '["lif", "brf"]'
