"""NIR graphs in (files written with the ``nir`` package), registered models and the gradient
report out; every expected number is computed here by hand from the ODE's discretisation."""

from __future__ import annotations

import json
import math

import nir
import numpy as np
import pytest

from lstmlif.analysis import gradcheck
from lstmlif.analysis.interop import from_nir, gradient_reach, nir_model_classes, nir_report
from lstmlif.analysis.symbolic import derive
from lstmlif.cli import main
from lstmlif.neurons import model_class, model_names, simulate
from lstmlif.neurons.catalogue.nir_models import NirCubaLIF, NirIF, NirLI, NirLIF

TAU = np.array([10.0, 10.0, 20.0])


def _graph() -> nir.NIRGraph:
    """Input -> Affine -> LIF (3, two parameter sets) -> Affine -> subgraph(CubaLIF -> LI) -> IF
    -> CubaLI -> Output."""
    inner = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "cuba": nir.CubaLIF(
                tau_syn=np.array([5.0, 5.0]),
                tau_mem=np.array([20.0, 20.0]),
                r=np.array([2.0, 2.0]),
                v_leak=np.zeros(2),
                v_threshold=np.ones(2),
                w_in=np.array([1.5, 1.5]),
            ),
            "li": nir.LI(tau=np.array([4.0, 4.0]), r=np.ones(2), v_leak=np.zeros(2)),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "cuba"), ("cuba", "li"), ("li", "output")],
    )
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([4])}),
            "fc1": nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3)),
            "lif": nir.LIF(
                tau=TAU,
                r=np.full(3, 10.0),
                v_leak=np.zeros(3),
                v_threshold=np.ones(3),
                v_reset=np.array([0.0, 0.0, -0.5]),
            ),
            "fc2": nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2)),
            "sub": inner,
            "if": nir.IF(r=np.array([0.5, 0.5]), v_threshold=np.ones(2)),
            "cubali": nir.CubaLI(
                tau_syn=np.array([2.0, 2.0]),
                tau_mem=np.array([8.0, 8.0]),
                r=np.ones(2),
                v_leak=np.zeros(2),
                w_in=np.ones(2),
            ),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[
            ("input", "fc1"),
            ("fc1", "lif"),
            ("lif", "fc2"),
            ("fc2", "sub"),
            ("sub", "if"),
            ("if", "cubali"),
            ("cubali", "output"),
        ],
    )


@pytest.fixture
def nir_file(tmp_path):
    path = tmp_path / "net.nir"
    nir.write(path, _graph())
    return path


def test_the_nir_models_are_registered_with_their_node_types():
    assert set(model_names("nir")) == {"nir_lif", "nir_cubalif", "nir_li", "nir_cubali", "nir_if"}
    assert set(nir_model_classes()) == {"LIF", "CubaLIF", "LI", "CubaLI", "IF", "I"}
    for name in model_names("nir"):
        assert hasattr(nir, model_class(name).nir_type)


def test_from_nir_reads_every_neuron_node_of_a_file(nir_file):
    models = from_nir(nir_file, dt=1.0, discretization="exact")
    assert list(models) == ["lif", "sub.cuba", "sub.li", "if", "cubali"]
    lif = models["lif"]
    assert type(lif) is NirLIF and lif.reset == "zero" and lif.convention == "code"
    np.testing.assert_array_equal(lif.tau, TAU)
    np.testing.assert_array_equal(lif.v_reset, [0.0, 0.0, -0.5])
    cuba = models["sub.cuba"]
    assert type(cuba) is NirCubaLIF and float(cuba.w_in[0]) == 1.5 and float(cuba.r[1]) == 2.0
    assert type(models["sub.li"]) is NirLI and models["sub.li"].v_th is None
    assert type(models["if"]) is NirIF and np.all(models["if"].v_reset == 0.0)  # NIR: zeros
    # the same graph object gives the same records
    again = from_nir(_graph(), dt=1.0, discretization="exact")
    np.testing.assert_array_equal(again["lif"].tau, lif.tau)


def test_exact_and_euler_decays_and_the_report(nir_file):
    dt = 0.5
    decays = {"exact": lambda tau: math.exp(-dt / tau), "euler": lambda tau: 1 - dt / tau}
    for disc, decay in decays.items():
        rep = nir_report(nir_file, dt, disc, kmax=3000)
        nodes = {n["node"]: n for n in rep["nodes"]}
        assert rep["other_nodes"] == {"Input": 2, "Affine": 2, "Output": 2}
        assert rep["network"] is None and rep["warnings"] == []
        lif = nodes["lif"]
        assert lif["neurons"] == 3 and [g["neurons"] for g in lif["groups"]] == [2, 1]
        for g in lif["groups"]:
            a = decay(g["params"]["tau"])
            assert g["jacobian"] == [[pytest.approx(a, rel=1e-15)]]
            assert g["spectral_radius"] == pytest.approx(a, rel=1e-15)
            assert g["memory_horizon"] == pytest.approx(-1 / math.log(a), rel=1e-12)
            # smallest k with a^k <= 1e-3
            assert g["gradient_reach"] == math.ceil(-3 * math.log(10) / math.log(a) - 1e-12)
            assert g["class"] == "decaying"
        cuba = nodes["sub.cuba"]["groups"][0]
        a_s, a_m = decay(5.0), decay(20.0)
        # exact: the matrix exponential's J21 = r/tau_m (a_m - a_s)/(1/tau_s - 1/tau_m);
        # forward Euler: J21 = r dt / tau_m (the membrane reads the old current)
        j21 = 2.0 / 20 * (a_m - a_s) / (1 / 5 - 1 / 20) if disc == "exact" else 2.0 * dt / 20
        J = np.array([[a_s, 0.0], [j21, a_m]])
        np.testing.assert_allclose(cuba["jacobian"], J, rtol=1e-14, atol=1e-16)
        assert cuba["spectral_radius"] == pytest.approx(a_m, rel=1e-14)
        norms = [np.linalg.norm(np.linalg.matrix_power(J, k), 2) for k in range(1, 3001)]
        assert cuba["gradient_reach"] == 1 + next(k for k, v in enumerate(norms) if v <= 1e-3)
        if disc == "exact":  # memory horizon = tau_mem / dt exactly
            assert cuba["memory_horizon"] == pytest.approx(20.0 / dt, rel=1e-12)
        ifn = nodes["if"]["groups"][0]
        assert ifn["jacobian"] == [[1.0]] and ifn["class"] == "marginal"
        assert ifn["memory_horizon"] == math.inf and ifn["gradient_reach"] == math.inf
        li = nodes["sub.li"]["groups"][0]
        assert li["spectral_radius"] == pytest.approx(decay(4.0), rel=1e-15)
        assert "v_th" not in li["params"]


def test_simulation_follows_the_discretised_ode_by_hand():
    rng = np.random.default_rng(0)
    current = 0.5 + rng.standard_normal((80, 1))
    for disc in ("exact", "euler"):
        a = math.exp(-0.5 / 2.5) if disc == "exact" else 1 - 0.5 / 2.5
        model = NirLIF(tau=2.5, r=2.0, v_leak=0.1, v_th=1.0, v_reset=-0.2, dt=0.5,
                       discretization=disc)  # fmt: skip
        trace = simulate(model, current)
        v, S, vs = 0.0, 0.0, []
        for x in current[:, 0]:
            v = v if S == 0 else -0.2  # NIR's reset to v_reset, on the stored potential
            v = a * v + (1 - a) * (0.1 + 2.0 * x)
            S = float(v >= 1.0)
            vs.append(v)
        assert trace.spikes.sum() > 3
        np.testing.assert_allclose(trace.states["v"][:, 0], vs, rtol=0, atol=1e-12)
    # euler LIF with tau = dt / (1 - beta), r = tau / dt is snntorch's v = beta v + I
    beta = 0.9
    m = NirLIF(tau=1 / (1 - beta), r=1 / (1 - beta), discretization="euler", v_th=100.0)
    np.testing.assert_allclose(
        simulate(m, current).states["v"][:, 0],
        np.array([sum(beta ** (t - s) * current[s, 0] for s in range(t + 1)) for t in range(80)]),
        atol=1e-12,
    )
    li = simulate(NirLI(tau=3.0), 5.0 * np.ones((40, 2)))
    assert li.spikes.sum() == 0 and li.states["v"].max() > 4  # no threshold: never spikes


def test_gradients_of_the_euler_records_match_autograd_and_finite_differences():
    rng = np.random.default_rng(3)
    for name in ("nir_lif", "nir_cubalif", "nir_if"):
        for reset in ("zero", "subtract"):
            case = gradcheck.make_case(name, "code", reset, False, rng, steps=100, batch=3,
                                       params={"discretization": "euler"})  # fmt: skip
            assert case.model.discretization == "euler"
            row = gradcheck.check_case(case, rng)
            assert row["ok"], (name, reset, row["problems"])
            assert row["spikes"] > 0 and row["grad_norm"] > 0


def test_derive_proves_the_nir_jacobians():
    for name, n in (("nir_lif", 2), ("nir_cubalif", 3), ("nir_li", 2), ("nir_if", 2)):
        d = derive(name)
        checks = [c for c in type(d.model).claims(d)]
        assert len(checks) == n
    assert main(["derive", "nir_cubalif", "--json"]) == 0


def test_inspect_cli_with_a_nir_file(nir_file, capsys):
    code = main(["inspect", "--nir", str(nir_file), "--dt", "1", "--discretization", "euler",
                 "--json"])  # fmt: skip
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    nodes = {n["node"]: n for n in rep["nodes"]}
    assert nodes["lif"]["groups"][0]["jacobian"] == [[pytest.approx(0.9, rel=1e-15)]]
    assert nodes["if"]["groups"][0]["gradient_reach"] == "inf"
    assert main(["inspect", "--nir", str(nir_file), "--dt", "1"]) == 0
    out = capsys.readouterr().out
    assert "node sub.cuba: NIR CubaLIF -> nir_cubalif" in out and "gradient reach" in out
    assert "memory horizon" in out and "spectral radius" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--nir", "{missing}", "--dt", "1"], "not found"),
        (["--nir", "{text}", "--dt", "1"], "cannot read"),
        (["--nir", "{file}"], "needs --dt"),
        (["--nir", "{file}", "--dt", "0"], "dt must be"),
        (["--nir", "{file}", "--dt", "-1e-3"], "dt must be"),
        (["--nir", "{file}", "--dt", "nan"], "dt must be"),
        (["lif", "--nir", "{file}", "--dt", "1"], "not both"),
        ([], "give a registered MODEL"),
    ],
)
def test_inspect_cli_bad_nir_input(argv, message, nir_file, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a NIR graph")
    paths = {"missing": tmp_path / "none.nir", "text": text, "file": nir_file}
    argv = [a.format(**paths) for a in argv]
    assert main(["inspect", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_python_api_errors():
    with pytest.raises(ValueError, match="discretization"):
        from_nir(_graph(), 1.0, "rk4")
    with pytest.raises(ValueError, match="nir.NIRGraph"):
        from_nir(42, 1.0)
    bad = nir.NIRGraph(
        nodes={
            "lif": nir.LIF(
                tau=np.array([-1.0]), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.ones(1)
            )
        },  # fmt: skip
        edges=[],
    )
    with pytest.raises(ValueError, match="'lif'.*tau"):
        from_nir(bad, 1.0)
    with pytest.raises(ValueError, match="decades"):
        gradient_reach(np.array([[0.5]]), decades=0)


def test_the_snntorch_round_trip_file_of_the_docs():
    """docs/assets/nir/snntorch_net.nir was exported by snntorch 1.0.0 (its script beside it):
    Leaky beta = 0.9 and Synaptic alpha = 0.8, beta = 0.95, written as time constants for
    snntorch's dt = 1e-4; Euler at that dt gives the decays back (float32 parameters)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "assets" / "nir" / "snntorch_net.nir"
    rep = nir_report(path, library="snntorch", kmax=2000)
    assert rep["dt"] == 1e-4 and rep["discretization"] == "snntorch"
    lif, cuba = rep["nodes"]
    assert (lif["nir_type"], lif["neurons"], cuba["nir_type"], cuba["neurons"]) == (
        "LIF", 8, "CubaLIF", 2,
    )  # fmt: skip
    assert lif["groups"][0]["jacobian"][0][0] == pytest.approx(0.9, abs=1e-6)
    # snntorch: syn = alpha syn + I, mem = beta mem + syn  ->  J = [[alpha, 0], [alpha, beta]]
    np.testing.assert_allclose(cuba["groups"][0]["jacobian"], [[0.8, 0.0], [0.8, 0.95]], atol=1e-6)
    models = from_nir(path, library="snntorch")
    x = np.random.default_rng(1).normal(0.3, 0.5, (50, 1))
    v, mem = simulate(models["1"].replace(tau=models["1"].tau[:1], r=models["1"].r[:1],
                                          v_leak=0.0, v_th=100.0, v_reset=0.0), x), 0.0  # fmt: skip
    for t in range(50):
        mem = 0.9 * mem + x[t, 0]
        assert v.states["v"][t, 0] == pytest.approx(mem, abs=1e-5)
    exact = nir_report(path, 1e-4, "exact", kmax=10)["nodes"][0]["groups"][0]
    assert exact["jacobian"][0][0] == pytest.approx(math.exp(-0.1), abs=1e-6)
