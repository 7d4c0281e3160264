"""NIR graphs in (files written with the ``nir`` package), registered models and the gradient
report out; every expected number is computed here by hand from the ODE's discretisation."""

from __future__ import annotations

import json
import math
import os

import nir
import numpy as np
import pytest

from lstmlif.analysis import gradcheck, stability
from lstmlif.analysis.interop import (
    from_nir,
    gradient_reach,
    network_jacobian,
    nir_model_classes,
    nir_report,
    read_graph,
)
from lstmlif.analysis.nir_export import export_nir
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


# ----------------------------------------------------------------------------- discretisations


def test_cubalif_exact_is_the_matrix_exponential_and_euler_is_forward_euler():
    """tau_syn = 5, tau_mem = 20, r = 2, dt = 1: the matrix exponential of the linear ODE gives
    J21 = r/tau_m (e^(-dt/tau_m) - e^(-dt/tau_s)) / (1/tau_s - 1/tau_m) = 0.088332; forward
    Euler r dt / tau_m = 0.1; snntorch's update (1 - a_m) r a_s = 0.08; norse's (1 - a_m) r."""
    from scipy.linalg import expm

    ts, tm, r, w, dt = 5.0, 20.0, 2.0, 1.5, 1.0
    A = np.array([[-1 / ts, 0.0], [r / tm, -1 / tm]])  # d(i, v)/dt = A (i, v) + B I
    B = np.array([w / ts, 0.0])
    # the exact step of x' = A x + B u with u held: the augmented matrix exponential
    M = expm(np.block([[A, B[:, None]], [np.zeros((1, 3))]]) * dt)
    J_exact, b_exact = M[:2, :2], M[:2, 2]
    assert J_exact[1, 0] == pytest.approx(0.088332, abs=5e-7)
    expected = {
        "exact": (J_exact, b_exact),
        "euler": (np.array([[0.8, 0], [0.1, 0.95]]), np.array([0.3, 0.0])),
        "snntorch": (np.array([[0.8, 0], [0.08, 0.95]]), np.array([0.3, 0.03])),
        "spikingjelly": (np.array([[0.8, 0], [0.08, 0.95]]), np.array([0.3, 0.03])),
        "norse": (np.array([[0.8, 0], [0.1, 0.95]]), np.array([1.2, 0.15])),
    }
    for disc, (J, b) in expected.items():
        m = NirCubaLIF(tau_syn=ts, tau_mem=tm, r=r, w_in=w, dt=dt, discretization=disc)
        np.testing.assert_allclose(stability.subthreshold_jacobian(m), J, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(stability.input_vector(m), b, rtol=1e-12, atol=1e-15)
    # equal time constants: the limit r dt/tau e^(-dt/tau), continuous across the series switch
    for ts in (20.0, 20.0 * (1 + 1e-7), 20.0 * (1 + 1e-3)):
        m = NirCubaLIF(tau_syn=ts, tau_mem=20.0, r=2.0, dt=1.0)
        j21 = stability.subthreshold_jacobian(m)[1, 0]
        exact = expm(np.array([[-1 / ts, 0.0], [2.0 / 20, -1 / 20]]))[1, 0]
        assert j21 == pytest.approx(exact, rel=1e-12)


def test_the_integrator_node_and_the_scheme_notes():
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "i": nir.I(r=np.array([2.0, 2.0])),
            "lif": nir.LIF(
                tau=np.array([0.25, 0.6]), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)
            ),  # fmt: skip
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "i"), ("i", "lif"), ("lif", "output")],
    )
    rep = nir_report(graph, 1.0, "euler", kmax=50)
    i_node, lif = rep["nodes"]
    assert (i_node["nir_type"], i_node["model"]) == ("I", "nir_if")
    assert i_node["groups"][0]["jacobian"] == [[1.0]] and i_node["groups"][0]["class"] == "marginal"
    assert "v_th" not in i_node["groups"][0]["params"]
    unstable, oscillating = lif["groups"]
    assert unstable["jacobian"] == [[-3.0]] and unstable["class"] == "growing"  # dt/tau = 4
    assert unstable["scheme_notes"] == [
        "scheme unstable: the euler step's decay a = 1 - dt/tau = -3 has |a| > 1 (dt/tau = 4 > 2)"
        " and grows, although the ODE decays (exact a = 0.0183156); the scheme, not the neuron, "
        "is unstable"
    ]
    assert oscillating["scheme_notes"][0].startswith(
        "scheme oscillates: the euler step's decay a = 1 - dt/tau = -0.666667 < 0 (dt/tau = "
        "1.66667 > 1) alternates in sign"
    )
    assert all(g["scheme_notes"] == [] for n in nir_report(graph, 1.0, "exact", kmax=50)["nodes"]
               for g in n["groups"])  # fmt: skip
    # the integrator never spikes, whatever it is driven with
    model = from_nir(graph, 1.0)["i"]
    assert simulate(model, 5.0 * np.ones((30, 2))).spikes.sum() == 0


def test_presets_and_their_conflicts(nir_file):
    models = from_nir(nir_file, library="norse")
    lif = models["lif"]  # norse's tau is dt / tau_inv: the ODE's tau = written tau / dt
    assert lif.dt == 1e-3 and lif.discretization == "norse"
    np.testing.assert_allclose(lif.tau, TAU / 1e-3)
    assert from_nir(nir_file, library="snntorch")["lif"].dt == 1e-4
    assert from_nir(nir_file, 0.5, library="spikingjelly")["lif"].dt == 0.5
    with pytest.raises(ValueError, match="give either a discretization or library='norse'"):
        from_nir(nir_file, discretization="exact", library="norse")
    with pytest.raises(ValueError, match="library must be one of"):
        from_nir(nir_file, library="lava")
    with pytest.raises(ValueError, match="dt is needed"):
        from_nir(nir_file)


# ----------------------------------------------------------------------------- networks


def _loop(w: float = 0.9) -> nir.NIRGraph:
    """Input -> LI (tau 20, one neuron) -> Output, and LI -> Linear(w) -> LI: a loop."""
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([1])}),
            "li": nir.LI(tau=np.array([20.0]), r=np.ones(1), v_leak=np.zeros(1)),
            "w": nir.Linear(weight=np.array([[w]])),
            "output": nir.Output(output_type={"output": np.array([1])}),
        },
        edges=[("input", "li"), ("li", "w"), ("w", "li"), ("li", "output")],
    )


def test_a_loop_is_analysed_as_a_network(capsys, tmp_path):
    rep = nir_report(_loop(), 1.0, "exact", kmax=10000)
    a = math.exp(-1 / 20)
    node = rep["nodes"][0]["groups"][0]
    assert node["spectral_radius"] == pytest.approx(a, rel=1e-15)  # 0.951
    assert node["gradient_reach"] == 139
    net = rep["network"]
    rho = a + (1 - a) * 0.9  # v[t] = a v + (1 - a) w v[t-1] (the loop's edge: one step later)
    assert net["spectral_radius"] == pytest.approx(rho, rel=1e-14) and round(rho, 3) == 0.995
    assert net["gradient_reach"] == math.ceil(-3 * math.log(10) / math.log(rho)) == 1413
    assert net["nodes_on_cycle"] == ["li", "w"] and net["class"] == "decaying"
    path = tmp_path / "loop.nir"
    nir.write(path, _loop())
    assert main(["inspect", "--nir", str(path), "--dt", "1"]) == 0
    out = capsys.readouterr().out
    assert "node li (on a cycle): NIR LI -> nir_li" in out
    assert "network: recurrent; nodes on a cycle: li, w" in out
    assert "spectral radius 0.9951229" in out and "1413 steps" in out


def test_a_network_above_the_reach_limit_says_why_once(monkeypatch, capsys):
    import lstmlif.analysis.interop as interop

    monkeypatch.setattr(interop, "MAX_REACH_STATES", 0)  # as if the loop's one state were many
    rep = nir_report(_loop(), 1.0, "exact", kmax=100)
    net = rep["network"]
    assert net["gradient_reach"] is None
    assert net["spectral_radius"] == pytest.approx(math.exp(-1 / 20) * 0.1 + 0.9, rel=1e-14)
    note = (
        "1 states: the reach takes kmax products of D x D matrices and is computed up to 0 states"
    )
    assert net["reach_note"] == note
    lines = interop._report_lines("loop.nir", rep)
    assert lines[-1] == f"  gradient reach (||J^k||_2 <= 10^-3): not computed ({note})"


def test_the_network_jacobian_by_hand():
    """LI(2) -> Affine W1 -> CubaLI(2) -> Affine W2 -> back to LI: J = (1 - K_same)^-1 (A +
    K_back), written out by hand for one step of the coupled linear maps."""
    W1, W2 = np.array([[0.5, -0.2], [0.1, 0.3]]), np.array([[0.4, 0.0], [-0.3, 0.2]])
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "li": nir.LI(tau=np.array([4.0, 8.0]), r=np.ones(2), v_leak=np.zeros(2)),
            "w1": nir.Affine(weight=W1, bias=np.zeros(2)),
            "cuba": nir.CubaLI(
                tau_syn=np.full(2, 2.0),
                tau_mem=np.full(2, 5.0),
                r=np.ones(2),
                v_leak=np.zeros(2),
                w_in=np.ones(2),
            ),  # fmt: skip
            "w2": nir.Linear(weight=W2),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[
            ("input", "li"),
            ("li", "w1"),
            ("w1", "cuba"),
            ("cuba", "w2"),
            ("w2", "li"),
            ("cuba", "output"),
        ],  # fmt: skip
    )
    net = network_jacobian(graph, 1.0, "euler")
    # states: li (v1, v2), cuba (i1, v1, i2, v2); Euler: a = 1 - dt/tau
    a_li = np.array([1 - 1 / 4, 1 - 1 / 8])
    a_s, a_m = 1 - 1 / 2, 1 - 1 / 5
    # li[t] = a_li li + (1 - a_li) W2 v_cuba[t-1]   (back edge: one step later)
    # cuba: i[t] = a_s i + (dt/tau_s) W1 li[t]      (same step: li[t] is already computed)
    #       v[t] = a_m v + (dt/tau_m) i[t-1]        (forward Euler: no input in the same step)
    J = np.zeros((6, 6))
    li, ci, cv = [0, 1], [2, 4], [3, 5]
    J[np.ix_(li, li)] = np.diag(a_li)
    J[np.ix_(li, cv)] = np.diag(1 - a_li) @ W2
    J[np.ix_(ci, ci)] = a_s * np.eye(2) + 0  # then add what li[t] brings:
    J[np.ix_(ci, li)] = 0.5 * W1 @ J[np.ix_(li, li)]
    J[np.ix_(ci, cv)] = 0.5 * W1 @ J[np.ix_(li, cv)]
    J[np.ix_(cv, ci)] = 0.2 * np.eye(2)
    J[np.ix_(cv, cv)] = a_m * np.eye(2)
    np.testing.assert_allclose(net["jacobian"], J, rtol=1e-13, atol=1e-15)
    assert net["on_cycle"] == ["li", "cuba"]


# ----------------------------------------------------------------------------- damaged files


def _damaged(tmp_path, edit) -> str:
    import h5py

    path = tmp_path / "damaged.nir"
    nir.write(path, _graph())
    with h5py.File(path, "r+") as f:
        edit(f["node"])
    return str(path)


def _set(group, key, value):
    del group[key]
    group[key] = value


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda g: g["nodes/lif"].__delitem__("type"),
         "node 'lif' has no 'type' entry (the file is damaged or truncated)"),
        (lambda g: _set(g["nodes/lif"], "tau", "abc"),
         "node 'lif' (LIF): 'tau' is str 'abc', not an array of numbers"),
        (lambda g: g["nodes/sub/nodes/cuba"].__delitem__("tau_syn"),
         "node 'sub.cuba' (CubaLIF) has no 'tau_syn' entry"),
        (lambda g: g["nodes/input"].__delitem__("shape"), "node 'input' (Input) has no 'shape'"),
        (lambda g: g.__delitem__("edges"), "the root node (NIRGraph) has no edges entry"),
        (lambda g: _set(g["nodes/lif"], "type", "Neuron"), "node 'lif' has an unknown type"),
        (lambda g: _set(g, "edges", np.array([[b"input", b"nowhere"]])),
         "an edge names node 'nowhere', which the graph does not have"),
    ],
)  # fmt: skip
def test_damaged_files_name_the_file_the_node_and_what_is_missing(edit, message, tmp_path):
    path = _damaged(tmp_path, edit)
    with pytest.raises(ValueError) as err:
        read_graph(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_paths_that_are_not_nir_files(tmp_path, capsys):
    loop = tmp_path / "loop.nir"
    os.symlink(loop, loop)
    fifo = tmp_path / "pipe.nir"
    os.mkfifo(fifo)
    empty = tmp_path / "empty.nir"
    empty.write_bytes(b"")
    text = tmp_path / "notes.nir"
    text.write_text("not a NIR graph")
    whole = tmp_path / "whole.nir"
    nir.write(whole, _graph())
    cut = tmp_path / "cut.nir"
    cut.write_bytes(whole.read_bytes()[:3000])
    cases = {
        cut: f"cannot read {cut} as a NIR graph: the file is truncated (3000 bytes; HDF5 says: ",
        tmp_path: f"{tmp_path} is a folder, not a NIR file",
        loop: f"{loop} is a symbolic link loop, not a NIR file",
        fifo: f"{fifo} is a FIFO (named pipe), not a NIR file",
        "/dev/zero": "/dev/zero is a character device, not a NIR file",
        empty: f"{empty} is empty (0 bytes), not a NIR file",
        tmp_path / "none.nir": f"NIR file not found: {tmp_path / 'none.nir'}",
        text: f"cannot read {text} as a NIR graph: not an HDF5 file",
    }
    for path, message in cases.items():
        assert main(["inspect", "--nir", str(path), "--dt", "1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"lstmlif inspect: error: {message}"), err


def test_a_graph_that_fails_the_type_check_is_read_with_a_warning(tmp_path, capsys):
    path = tmp_path / "batched.nir"
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([1, 3])}),  # a batched sample
            "fc": nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2)),
            "lif": nir.LIF(
                tau=np.full(2, 20.0), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)
            ),  # fmt: skip
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
        type_check=False,
    )
    nir.write(path, graph)
    failed = "type mismatch: input.output: [[1 3]] -> fc.input: [[3]]"
    with pytest.warns(UserWarning, match=r"fails NIR's type check") as record:
        assert read_graph(path).nodes["lif"].tau[0] == 20.0
    assert failed in str(record[0].message)
    assert main(["inspect", "--nir", str(path), "--dt", "1"]) == 0
    captured = capsys.readouterr()
    assert f"lstmlif inspect: warning: {path} fails NIR's type check" in captured.err
    assert failed in captured.err and "node lif: NIR LIF" in captured.out


def test_complex_time_constants_are_refused():
    def graph(tau):
        return nir.NIRGraph(
            nodes={
                "lif": nir.LIF(tau=tau, r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
            },  # fmt: skip
            edges=[],
            type_check=False,
        )

    with pytest.raises(ValueError) as err:
        from_nir(graph(np.array([10.0 + 0j, 10.0 + 2j])), 1.0)
    assert str(err.value) == (
        "NIR node 'lif' (LIF): tau has complex values (first (10+2j)); NIR's neuron equations "
        "are real, and a complex time constant has no decay to analyse"
    )
    real = from_nir(graph(np.array([10.0 + 0j, 20.0 + 0j])), 1.0)["lif"]  # no imaginary part
    np.testing.assert_array_equal(real.tau, [10.0, 20.0])


@pytest.mark.parametrize(
    "extra, option",
    [(["--param", "tau=1"], "--param"), (["--logits", "1", "2"], "--logits"),
     (["--convention", "paper"], "--convention")],
)  # fmt: skip
def test_model_options_with_a_nir_file_are_refused(extra, option, nir_file, capsys):
    assert main(["inspect", "--nir", str(nir_file), "--dt", "1", *extra]) == 2
    assert capsys.readouterr().err == (
        f"lstmlif inspect: error: {option} applies to a registered MODEL, not to --nir (a NIR "
        "graph's parameters come from its file)\n"
    )


def test_many_distinct_parameter_sets_are_analysed_at_once(monkeypatch):
    """3,000 distinct CubaLIF parameter sets in one call: each group's reach equals the power
    sweep of its own Jacobian; the work bound refuses a report beyond it, naming the numbers."""
    import lstmlif.analysis.interop as interop

    rng = np.random.default_rng(5)
    n = 3000
    tau_syn, tau_mem = rng.uniform(2, 10, n), rng.uniform(5, 40, n)
    graph = nir.NIRGraph(
        nodes={"c": nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=np.ones(n),
                                v_leak=np.zeros(n), v_threshold=np.ones(n), w_in=np.ones(n))},
        edges=[],
        type_check=False,
    )  # fmt: skip
    rep = nir_report(graph, 1.0, "exact", kmax=400)
    groups = rep["nodes"][0]["groups"]
    assert len(groups) == n
    for k in (0, 1234, n - 1):
        g = groups[k]
        a_s, a_m = math.exp(-1 / tau_syn[k]), math.exp(-1 / tau_mem[k])
        j21 = 1 / tau_mem[k] * (a_m - a_s) / (1 / tau_syn[k] - 1 / tau_mem[k])
        np.testing.assert_allclose(g["jacobian"], [[a_s, 0], [j21, a_m]], rtol=1e-12)
        assert g["gradient_reach"] == gradient_reach(np.array(g["jacobian"]), kmax=400)
    lif = nir.NIRGraph(
        nodes={"l": nir.LIF(tau=np.linspace(2, 50, 20000), r=np.ones(20000),
                            v_leak=np.zeros(20000), v_threshold=np.ones(20000))},
        edges=[],
        type_check=False,
    )  # fmt: skip
    groups = nir_report(lif, 1.0, "exact", kmax=10000)["nodes"][0]["groups"]
    assert len(groups) == 20000
    for k in (0, 777, 19999):
        a = math.exp(-1 / groups[k]["params"]["tau"])
        assert groups[k]["gradient_reach"] == gradient_reach(np.array([[a]]), kmax=10000)
    monkeypatch.setattr(interop, "MAX_REPORT_WORK", 1e6)
    nir_report(lif, 1.0, "exact", kmax=10000)  # one-state nodes: closed form, no bound
    cuba = nir.NIRGraph(
        nodes={"c": nir.CubaLIF(tau_syn=np.linspace(2, 10, 2000), tau_mem=np.full(2000, 20.0),
                                r=np.ones(2000), v_leak=np.zeros(2000),
                                v_threshold=np.ones(2000), w_in=np.ones(2000))},
        edges=[],
        type_check=False,
    )  # fmt: skip
    with pytest.raises(ValueError) as err:
        nir_report(cuba, 1.0, "exact", kmax=1000)
    assert str(err.value) == (
        "2000 distinct parameter sets of two-state nodes x kmax 1000 = 2e+06 steps of the power "
        "sweep is above the limit 1e+06 (at most about 0.00833 min); lower --kmax"
    )


# ----------------------------------------------------------------------------- export


def test_export_refuses_what_nir_cannot_express():
    with pytest.raises(ValueError) as err:
        export_nir("lstmlif", size=2)
    assert str(err.value).startswith(
        "NIR has no node for lstmlif: its states d and s feed each other (sub-threshold J = "
    )
    assert "NIR's only two-state neuron, CubaLIF, has a synaptic current that feeds the " in str(
        err.value
    )
    with pytest.raises(ValueError, match="reset='subtract' has no NIR node: NIR's neurons reset"):
        export_nir(NirLIF(reset="subtract"), size=2)
    with pytest.raises(ValueError, match="NIR has no node for alif: it has 2 states"):
        export_nir("alif", size=1)


def test_export_a_network_and_read_it_back(tmp_path, capsys):
    import torch

    from lstmlif.analysis.nir_export import model_to_nir_node
    from lstmlif.neurons import get_model
    from lstmlif.neurons.layers import make_layer

    torch.manual_seed(0)
    fc1, fc2 = torch.nn.Linear(4, 3), torch.nn.Linear(3, 2, bias=False)
    layer = make_layer("nir_cubalif", 2, tau_syn=5.0, tau_mem=20.0)
    path = tmp_path / "net.nir"
    graph = export_nir([fc1, (NirLIF(tau=np.array([5.0, 6.0, 7.0]), v_reset=-0.1), 3), fc2,
                        layer], path)  # fmt: skip
    assert [type(graph.nodes[k]).__name__ for k in "0123"] == ["Affine", "LIF", "Linear", "CubaLIF"]
    back = nir.read(path)  # NIR's own reader, with its type check
    np.testing.assert_array_equal(back.nodes["0"].weight, fc1.weight.detach().double().numpy())
    models = from_nir(path, 1.0)
    np.testing.assert_array_equal(models["1"].tau, [5.0, 6.0, 7.0])
    np.testing.assert_array_equal(models["1"].v_reset, [-0.1] * 3)
    assert float(models["3"].tau_mem[1]) == 20.0
    # a one-state model outside the nir group: NIR's LIF where a simulation of both agrees
    lif = get_model("lif", alpha=0.8, reset="zero")
    node = model_to_nir_node(lif, 2, scheme="exact", dt=1.0)
    np.testing.assert_allclose(node.tau, -1.0 / math.log(0.8))
    twin = from_nir(nir.NIRGraph(nodes={"n": node}, edges=[], type_check=False), 1.0)["n"]
    x = np.random.default_rng(2).normal(0.5, 0.8, (300, 2))
    ours, theirs = simulate(lif, x), simulate(twin, x)
    assert ours.spikes.sum() > 10 and np.array_equal(ours.spikes, theirs.spikes)
    # the command line
    out = tmp_path / "cli.nir"
    assert main(["export-nir", "nir_lif", "--size", "3", "--param", "tau=20", "--dt", "1e-4",
                 "--scheme", "snntorch", "--out", str(out)]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith(f"wrote {out}: Input -> LIF (3 neuron(s)) -> Output")
    assert nir.read(out).metadata["discretization"] == "snntorch"
    assert main(["export-nir", "lstmlif", "--out", str(tmp_path / "x.nir")]) == 2
    assert "NIR has no node for lstmlif" in capsys.readouterr().err
    assert not (tmp_path / "x.nir").exists()
    assert main(["export-nir", "nir_lif", "--out", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err
        == f"lstmlif export-nir: error: cannot write {tmp_path}: it is a folder\n"
    )
    # a parameter given twice is refused, as by inspect, a number or a switch
    for twice in (["tau=20", "tau=30"], ["reset=zero", "reset=subtract"]):
        name = twice[0].split("=")[0]
        argv = ["export-nir", "nir_lif", "--out", str(tmp_path / "twice.nir")]
        assert main([*argv, "--param", twice[0], "--param", twice[1]]) == 2
        first, second = (t.split("=")[1] for t in twice)
        assert capsys.readouterr().err == (
            f"lstmlif export-nir: error: --param {name} is given twice ({first} and {second}); "
            "give it once\n"
        )
        assert not (tmp_path / "twice.nir").exists()


def test_a_long_report_says_how_long_before_it_starts(monkeypatch):
    import lstmlif.analysis.interop as interop

    monkeypatch.setattr(interop, "SWEEP_RATE", 10.0)  # as if the sweep were very slow
    lines: list[str] = []
    graph = nir.NIRGraph(
        nodes={"c": nir.CubaLIF(tau_syn=np.array([2.0, 3.0]), tau_mem=np.full(2, 20.0),
                                r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
                                w_in=np.ones(2))},
        edges=[],
        type_check=False,
    )  # fmt: skip
    nir_report(graph, 1.0, "exact", kmax=100, progress=lines.append)
    assert lines[0] == "2 parameter sets (2 of two-state nodes): at most about 20 s"


def test_a_file_holding_one_node_is_a_graph_of_that_node(tmp_path):
    path = tmp_path / "single.nir"
    nir.write(path, nir.LIF(tau=np.full(2, 5.0), r=np.ones(2), v_leak=np.zeros(2),
                            v_threshold=np.ones(2)))  # fmt: skip
    rep = nir_report(path, 1.0, "exact", kmax=100)
    assert [n["node"] for n in rep["nodes"]] == ["node"]
    assert rep["nodes"][0]["groups"][0]["jacobian"] == [[pytest.approx(math.exp(-0.2))]]


@pytest.mark.parametrize("scheme", ["snntorch", "norse", "exact"])
def test_gradients_of_every_cubalif_scheme_match_autograd_and_finite_differences(scheme):
    rng = np.random.default_rng(4)
    case = gradcheck.make_case("nir_cubalif", "code", "zero", False, rng, steps=100, batch=3,
                               params={"discretization": scheme})  # fmt: skip
    assert case.model.discretization == scheme
    row = gradcheck.check_case(case, rng)
    assert row["ok"], (scheme, row["problems"])
    assert row["spikes"] > 0 and row["grad_norm"] > 0


def test_derive_proves_the_exact_cubalif_claims():
    """The matrix exponential's J21 and input vector, written by hand in the claims, equal
    SymPy's derivative of the step (the other schemes' values are checked numerically above)."""
    from lstmlif.analysis.symbolic import derive_report

    checks = [c for c in derive_report("nir_cubalif")["checks"] if c["section"] == "NIR"]
    assert len(checks) == 3 and checks[0]["claim"].startswith("exact: J = ")
    assert all(c["holds"] for c in checks), checks
