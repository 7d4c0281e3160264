"""NIR graphs written by snntorch, norse and spikingjelly through their own exporters, read with
``--as LIB``: the sub-threshold Jacobian the toolkit reports equals the one measured by
stepping the library's own module (finite differences of one step from a state below
threshold, in float64). And the round trip: a model exported here, imported by snntorch's and
norse's own importers and simulated by them, spikes exactly where the toolkit's record does.

The peers are not dependencies of the package: each test skips, saying why, where its library
is not installed (install them with ``pip install --no-deps snntorch==1.0.0 norse==1.1.0
spikingjelly==2.0.0 nirtorch==2.6 loguru``)."""

from __future__ import annotations

import logging

import nir
import numpy as np
import pytest

from lstmlif.analysis.interop import from_nir, nir_report, read_graph
from lstmlif.analysis.nir_export import export_nir
from lstmlif.neurons import simulate
from lstmlif.neurons.catalogue.nir_models import NirCubaLIF, NirLIF

torch = pytest.importorskip("torch")

H = 1e-3  # finite-difference step: the sub-threshold maps are affine, so any h below threshold


@pytest.fixture(autouse=True)
def _float64():
    """The libraries build some tensors in torch's default dtype: make it float64 here."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _fd_jacobian(step, x0: np.ndarray) -> np.ndarray:
    """J[i, j] = (step(x0 + h e_j)[i] - step(x0)[i]) / h for a map of float64 state vectors."""
    base = step(x0)
    J = np.empty((x0.size, x0.size))
    for j in range(x0.size):
        x = x0.copy()
        x[j] += H
        J[:, j] = (step(x) - base) / H
    return J


def _report_jacobians(path, library):
    rep = nir_report(path, library=library, kmax=100)
    return {n["nir_type"]: np.array(n["groups"][0]["jacobian"]) for n in rep["nodes"]}


def _needs(name: str):
    return pytest.importorskip(name, reason=f"{name} is not installed (a peer, not a dependency)")


# ----------------------------------------------------------------------------- snntorch


def test_snntorch_leaky_and_synaptic_jacobians(tmp_path):
    """snntorch's exporter traces the network in float32 (its spikes are float32), so the file
    holds float32 time constants: agreement to float32's rounding, 1e-6."""
    snn = _needs("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.set_default_dtype(torch.float32)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 2),
        snn.Leaky(beta=torch.full((2,), 0.9), threshold=torch.ones(2), init_hidden=True),
        torch.nn.Linear(2, 2),
        snn.Synaptic(
            alpha=torch.full((2,), 0.8),
            beta=torch.full((2,), 0.95),
            threshold=torch.ones(2),
            init_hidden=True,
            output=True,
        ),
    )
    path = tmp_path / "snntorch.nir"
    nir.write(path, export_to_nir(net, torch.zeros(1, 3), ignore_dims=[0]))
    torch.set_default_dtype(torch.float64)
    got = _report_jacobians(path, "snntorch")

    leaky = snn.Leaky(beta=0.9, threshold=1.0)

    def leaky_step(x):
        _, mem = leaky(torch.zeros(1, dtype=torch.float64), torch.tensor(x))
        return mem.detach().numpy()

    syn = snn.Synaptic(alpha=0.8, beta=0.95, threshold=1.0)

    def synaptic_step(x):  # state (syn, mem)
        _, s, m = syn(torch.zeros(1, dtype=torch.float64), torch.tensor(x[:1]), torch.tensor(x[1:]))
        return np.concatenate([s.detach().numpy(), m.detach().numpy()])

    expected_lif = _fd_jacobian(leaky_step, np.array([0.2]))
    expected_cuba = _fd_jacobian(synaptic_step, np.array([0.1, 0.2]))
    np.testing.assert_allclose(expected_cuba, [[0.8, 0], [0.8, 0.95]], atol=1e-9)  # by hand
    np.testing.assert_allclose(got["LIF"], expected_lif, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["CubaLIF"], expected_cuba, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- norse


def test_norse_lifbox_and_lif_jacobians_from_a_batched_export(tmp_path):
    norse = _needs("norse.torch")
    from norse.torch import LIFBoxParameters, LIFParameters
    from norse.torch.functional.lif import LIFFeedForwardState, lif_feed_forward_step
    from norse.torch.functional.lif_box import LIFBoxFeedForwardState, lif_box_feed_forward_step

    f64 = torch.float64
    pb = LIFBoxParameters(
        tau_mem_inv=torch.full((2,), 100.0, dtype=f64),
        v_leak=torch.zeros(2, dtype=f64),
        v_th=torch.ones(2, dtype=f64),
        v_reset=torch.zeros(2, dtype=f64),
    )
    pc = LIFParameters(
        tau_syn_inv=torch.full((2,), 200.0, dtype=f64),
        tau_mem_inv=torch.full((2,), 100.0, dtype=f64),
        v_leak=torch.zeros(2, dtype=f64),
        v_th=torch.ones(2, dtype=f64),
        v_reset=torch.zeros(2, dtype=f64),
    )
    net = norse.SequentialState(
        torch.nn.Linear(3, 2).double(),
        norse.LIFBoxCell(pb),
        torch.nn.Linear(2, 2).double(),
        norse.LIFCell(pc),
    )
    path = tmp_path / "norse.nir"
    nir.write(path, norse.to_nir(net, torch.zeros(1, 3, dtype=f64)))  # a batched sample input
    failed = "type mismatch: input.output: [[1 3]] -> 0.input: [[3]]"
    with pytest.warns(UserWarning, match=r"fails NIR's type check \(.*") as record:
        read_graph(path)
    assert failed in str(record[0].message) and str(path) in str(record[0].message)
    assert failed in nir_report(path, library="norse", kmax=10)["warnings"][0]
    got = _report_jacobians(path, "norse")

    def box_step(x):
        _, s = lif_box_feed_forward_step(
            torch.zeros(2, dtype=f64), LIFBoxFeedForwardState(v=torch.tensor(x)), pb, dt=1e-3
        )
        return s.v.numpy()[:1]

    def lif_step(x):  # state (i, v), norse stores (v, i)
        state = LIFFeedForwardState(v=torch.tensor([x[1]] * 2), i=torch.tensor([x[0]] * 2))
        _, s = lif_feed_forward_step(torch.zeros(2, dtype=f64), state, pc, dt=1e-3)
        return np.array([s.i[0].item(), s.v[0].item()])

    expected_lif = _fd_jacobian(lambda x: box_step(np.repeat(x, 2)), np.array([0.2]))
    expected_cuba = _fd_jacobian(lif_step, np.array([0.1, 0.2]))
    # by hand: a = 1 - dt tau_inv; the membrane reads the current, J21 = dt tau_mem_inv
    np.testing.assert_allclose(expected_cuba, [[0.8, 0], [0.1, 0.9]], atol=1e-9)
    np.testing.assert_allclose(got["LIF"], expected_lif, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["CubaLIF"], expected_cuba, rtol=1e-9, atol=1e-12)
    # norse's own dt without the preset reads tau = dt / tau_inv as a time constant: -99
    plain = nir_report(path, 1e-3, "euler", kmax=10)
    assert plain["nodes"][0]["groups"][0]["jacobian"] == [[pytest.approx(-99.0)]]
    assert "scheme unstable" in plain["nodes"][0]["groups"][0]["scheme_notes"][0]


# ----------------------------------------------------------------------------- spikingjelly


def test_spikingjelly_lif_and_cubalif_jacobians(tmp_path):
    _needs("loguru")
    neuron = _needs("spikingjelly.activation_based.neuron")
    from spikingjelly.activation_based import layer
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    net = torch.nn.Sequential(
        layer.Linear(3, 2),
        neuron.LIFNode(tau=4.0),
        layer.Linear(2, 2),
        neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75),
    ).double()
    path = tmp_path / "sj.nir"
    nir.write(path, export_to_nir(net, torch.zeros(1, 3, dtype=torch.float64)))
    got = _report_jacobians(path, "spikingjelly")

    def lif_step(x):
        node = neuron.LIFNode(tau=4.0)
        node.v = torch.tensor(x)
        node(torch.zeros(1, dtype=torch.float64))
        return node.v.detach().numpy()

    def cuba_step(x):  # state (c, v)
        node = neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75)
        x_in = torch.zeros(1, dtype=torch.float64)
        node.v, node.c = torch.tensor(x[1:]), torch.tensor(x[:1])
        node(x_in)
        return np.concatenate([node.c.detach().numpy(), node.v.detach().numpy()])

    expected_lif = _fd_jacobian(lif_step, np.array([0.2]))
    expected_cuba = _fd_jacobian(cuba_step, np.array([0.1, 0.2]))
    np.testing.assert_allclose(expected_lif, [[0.75]], atol=1e-9)  # 1 - 1/tau
    np.testing.assert_allclose(expected_cuba, [[0.5, 0], [0.5, 0.75]], atol=1e-9)
    np.testing.assert_allclose(got["LIF"], expected_lif, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["CubaLIF"], expected_cuba, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- round trip


def _drive(steps: int, n: int) -> np.ndarray:
    return np.random.default_rng(7).normal(0.35, 0.6, (steps, n))


def test_round_trip_through_snntorch_and_norse_importers(tmp_path, caplog):
    """Export LIF and CubaLIF records (snntorch's update, dt = 1e-4), import the file with
    snntorch's ``import_from_nir`` and norse's ``from_nir`` (dt = 1e-4), simulate all three on
    the same input in float64: identical spikes."""
    _needs("snntorch")
    _needs("norse.torch")
    from norse.torch import from_nir as norse_from_nir
    from snntorch import import_nir

    n, steps, dt = 3, 300, 1e-4
    records = {
        "LIF": NirLIF(tau=1e-3, r=1.0, v_th=1.0, dt=dt, discretization="snntorch"),
        "CubaLIF": NirCubaLIF(
            tau_syn=5e-4, tau_mem=1e-3, r=10.0, w_in=5.0, v_th=1.0, dt=dt, discretization="snntorch"
        ),
    }
    gains = {"LIF": 10.0, "CubaLIF": 0.1}  # inputs that make both fire at similar rates
    for kind, record in records.items():
        path = tmp_path / f"{kind}.nir"
        export_nir(record, path, size=n)
        x = gains[kind] * _drive(steps, n)
        ours = simulate(record, x).spikes
        assert 10 < ours.sum() < 0.5 * ours.size  # the comparison sees spikes and silence
        graph = nir.read(path)
        # snntorch: its importer prints a warning for r != tau/dt scalings; float64 throughout
        snn_net = import_nir.import_from_nir(graph).double()
        caplog.set_level(logging.ERROR)
        norse_net = norse_from_nir(graph, dt=dt, ignore_warnings=True).double()
        theirs = {}
        for lib, net in (("snntorch", snn_net), ("norse", norse_net)):
            state, out = None, []
            for t in range(steps):
                xt = torch.tensor(x[t : t + 1], dtype=torch.float64)
                z, state = net(xt, state)
                out.append(z.detach().numpy()[0])
            theirs[lib] = np.array(out)
        for lib, spikes in theirs.items():
            assert np.array_equal(spikes, ours), (kind, lib, np.argwhere(spikes != ours)[:5])
    # the file round-trips into this toolkit too
    back = from_nir(tmp_path / "CubaLIF.nir", library="snntorch")["0"]
    assert simulate(back, x).spikes.sum() > 10
    np.testing.assert_array_equal(simulate(back, x).spikes, simulate(records["CubaLIF"], x).spikes)


def test_round_trip_through_spikingjellys_importer(tmp_path):
    """The same records through spikingjelly's ``import_from_nir`` (dt = 1e-4, float64; its
    module returns ``(output, state)`` and takes the state back): identical spikes."""
    _needs("loguru")
    _needs("spikingjelly.activation_based.neuron")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    n, steps, dt = 3, 300, 1e-4
    records = {
        "LIF": (NirLIF(tau=1e-3, r=1.0, v_th=1.0, dt=dt, discretization="spikingjelly"), 10.0),
        "CubaLIF": (
            NirCubaLIF(tau_syn=5e-4, tau_mem=1e-3, r=10.0, w_in=5.0, v_th=1.0, dt=dt,
                       discretization="spikingjelly"),
            0.1,
        ),
    }  # fmt: skip
    for kind, (record, gain) in records.items():
        path = tmp_path / f"{kind}.nir"
        export_nir(record, path, size=n)
        x = gain * _drive(steps, n)
        ours = simulate(record, x).spikes
        assert 10 < ours.sum() < 0.5 * ours.size
        net = import_from_nir(nir.read(path), dt=dt, dtype=torch.float64)
        state, out = None, []
        for t in range(steps):
            z, state = net(torch.tensor(x[t : t + 1], dtype=torch.float64), state)
            out.append(z.detach().numpy()[0])
        assert np.array_equal(np.array(out), ours), (kind, np.argwhere(np.array(out) != ours)[:5])


def test_snntorch_rleaky_is_read_as_a_recurrent_network(tmp_path):
    """snntorch writes RLeaky as a LIF node and a weight on a loop (node names with dots, such
    as "1.lif"); the loop is found, and as it carries spikes, which the surrogate holds at 0
    below threshold, the network's spectral radius is the node's own."""
    snn = _needs("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.set_default_dtype(torch.float32)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 2),
        snn.RLeaky(beta=0.9, V=torch.ones(2) * 0.5, all_to_all=False, init_hidden=True,
                   output=True),
    )  # fmt: skip
    path = tmp_path / "rleaky.nir"
    nir.write(path, export_to_nir(net, torch.zeros(1, 3), ignore_dims=[0]))
    torch.set_default_dtype(torch.float64)
    rep = nir_report(path, library="snntorch", kmax=1000)
    assert rep["nodes"][0]["node"] == "1.lif"
    net_rep = rep["network"]
    assert net_rep["nodes_on_cycle"] == ["1.lif", "1.w_rec"]
    assert net_rep["spectral_radius"] == pytest.approx(0.9, abs=1e-6)
    assert net_rep["gradient_reach"] == rep["nodes"][0]["groups"][0]["gradient_reach"] == 66
