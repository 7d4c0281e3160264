"""The paper's printed numbers (theory, sections 3 and 6) against independent recomputation."""

import json
import math

import numpy as np
import pytest

from lstmlif.analysis.paper import (
    ARCHITECTURES,
    ENERGY_PRINTED,
    FIRING_RATES,
    PAPER_SETTINGS,
    PERIODS,
    TABLE7,
    TABLE7_BETA1,
    TABLE7_BETA2,
    TABLE7_TRAINED,
    E_matrix,
    column_max_range,
    energy_table,
    f_range_unit_square,
    f_rounding_range,
    network_energy_nj,
    paper_column_max,
    paper_column_sums,
    paper_f,
    paper_matrix,
    paper_table,
    parameter_count,
    quadrant_table,
)
from lstmlif.analysis.stability import (
    eigenvalues,
    log10_power_norms,
    period,
    subthreshold_jacobian,
)
from lstmlif.neurons import LIF, LSTMLIF


def test_table7_reproduced_to_three_decimals():
    assert len(TABLE7) == 16
    grid = paper_f(np.array(TABLE7_BETA1)[:, None], np.array(TABLE7_BETA2)[None, :])
    for i, b1 in enumerate(TABLE7_BETA1):
        for j, b2 in enumerate(TABLE7_BETA2):
            printed = TABLE7[(b1, b2)]
            assert abs(grid[i, j] - printed) < 5e-4, (b1, b2)
            # f is the signed sum of the first column of eq. 14's P (a different path)
            assert paper_column_sums(b1, b2)[0] == pytest.approx(printed, abs=5e-4)


def test_P_is_not_J_but_J_times_E():
    rng = np.random.default_rng(2)
    b1, b2 = rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50)
    J = subthreshold_jacobian(LSTMLIF(beta1=b1, beta2=b2))
    P = paper_matrix(b1, b2)
    np.testing.assert_allclose(P, J @ E_matrix(b2), atol=1e-15)
    np.testing.assert_allclose(np.linalg.det(P), 1.0, atol=1e-14)
    np.testing.assert_allclose(np.trace(P, axis1=-2, axis2=-1), 2 + 2 * b1 * b2, atol=1e-15)
    np.testing.assert_allclose(np.trace(J, axis1=-2, axis2=-1), 2 + b1 * b2, atol=1e-15)
    gap = np.max(np.abs(P - J), axis=(-2, -1))
    assert np.all(gap > 0)
    # at the default setting P - J = [[b1 b2, 0], [b2 + b1 b2^2, 0]] = [[-0.25, 0], [0.375, 0]]
    np.testing.assert_allclose(
        paper_matrix(-0.5, 0.5) - subthreshold_jacobian(LSTMLIF()), [[-0.25, 0], [0.375, 0]]
    )
    # different spectra: J's pair has angle 0.5054, P's has cos = 1 + b1 b2 = 0.75
    lam_P = np.linalg.eigvals(paper_matrix(-0.5, 0.5))
    assert abs(np.angle(lam_P[0])) == pytest.approx(math.acos(0.75), rel=1e-12)
    assert abs(np.angle(eigenvalues(LSTMLIF())[0])) == pytest.approx(0.5054, abs=5e-5)


def test_logits_to_betas():
    for st in PAPER_SETTINGS.values():
        c1, c2 = st["logits"]
        m = LSTMLIF.from_logits(c1, c2)
        assert round(-1 / (1 + math.exp(-c1)), 4) == st["betas"][0]
        assert round(1 / (1 + math.exp(-c2)), 4) == st["betas"][1]
        assert float(m.beta1) == pytest.approx(-1 / (1 + math.exp(-c1)), rel=1e-15)
        assert float(m.beta2) == pytest.approx(1 / (1 + math.exp(-c2)), rel=1e-15)
        assert st["rounded"] == (round(st["betas"][0], 1), round(st["betas"][1], 1))


def test_periods_and_angles():
    for (b1, b2), (theta_p, period_p) in PERIODS.items():
        theta = math.acos(1 + b1 * b2 / 2)
        assert round(theta, 4) == theta_p
        assert round(2 * math.pi / theta, 2) == period_p
        assert round(float(period(LSTMLIF(beta1=b1, beta2=b2))), 2) == period_p


def test_lif_decay_over_one_smnist_sequence():
    out = log10_power_norms(subthreshold_jacobian(LIF(alpha=0.8)), 784, ord=1)
    assert out[-1] == pytest.approx(784 * math.log10(0.8), rel=1e-13)
    assert f"{10 ** out[-1]:.2e}" == "1.05e-76"


def test_quadrants_f_ranges_and_spectrum():
    rows = {r["quadrant"]: r for r in quadrant_table()}
    # brute force over a fine grid of the open unit square (independent of the exact search)
    g = np.linspace(1e-4, 1 - 1e-4, 801)
    for q, (lo, hi) in {1: (1, 5), 2: (1, 3), 3: (-1, 1), 4: (-1, 1)}.items():
        s1, s2 = {1: (1, 1), 2: (-1, 1), 3: (-1, -1), 4: (1, -1)}[q]
        f = paper_f(s1 * g[:, None], s2 * g[None, :])
        assert f.min() > lo - 1e-12 and f.max() < hi + 1e-12
        assert f.min() == pytest.approx(lo, abs=5e-3) and f.max() == pytest.approx(hi, abs=5e-3)
        assert f_range_unit_square(q) == pytest.approx((lo, hi), abs=1e-15)
    assert rows[1]["spectrum"] == "growing" and rows[3]["spectrum"] == "growing"
    assert rows[2]["spectrum"] == "marginal" and rows[4]["spectrum"] == "marginal"
    assert rows[1]["rho_min"] > 1 and rows[3]["rho_min"] > 1
    assert rows[2]["rho_max"] == pytest.approx(1.0, abs=1e-14)
    assert [rows[q]["paper_verdict"] for q in (1, 2, 3, 4)] == [
        "explodes", "trainable", "vanishes", "explodes",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="quadrant"):
        f_range_unit_square(5)


def test_paper_table_rows():
    rows = paper_table()
    json.dumps(rows)
    t7 = [r for r in rows if r["quantity"] == "f (Table 7)"]
    assert len(t7) == 16 and all(r["agrees"] for r in t7)
    per = [r for r in rows if r["quantity"] == "period"]
    assert len(per) == 4 and all(r["agrees"] for r in per)
    eig = [r for r in rows if r["quantity"] == "real eigenvalue"]
    assert len(eig) == 4 and all(r["agrees"] for r in eig)
    by_name = {r["quantity"]: r for r in rows}
    assert by_name["alpha^784 (LIF)"]["agrees"]
    assert not by_name["max |P - J|"]["agrees"]
    assert by_name["max |P - J|"]["recomputed"] == pytest.approx(0.375)
    assert not by_name["inf f, open 2nd quadrant"]["agrees"]
    quad = {r["quantity"][:10]: r["agrees"] for r in rows if r["quantity"].startswith("quadrant")}
    assert quad == {"quadrant 1": True, "quadrant 2": True, "quadrant 3": False,
                    "quadrant 4": False}  # fmt: skip


def test_bad_input():
    with pytest.raises(ValueError, match="finite"):
        paper_f(np.nan, 0.5)
    with pytest.raises(ValueError, match="finite"):
        paper_matrix(0.5, np.inf)
    for bad in ("a", 1j, [0.5, [0.2]]):
        with pytest.raises(ValueError, match="finite real numbers"):
            paper_matrix(bad, 0.5)


# ----------------------------------------------------------------------------- section 6


def test_table7_after_training_agrees_within_the_rounding_of_the_learned_betas():
    assert len(TABLE7_TRAINED) == 16 and list(TABLE7_TRAINED) == list(TABLE7)
    misses = []
    for init, ((b1, b2), printed) in TABLE7_TRAINED.items():
        # f by the signed first-column sum of eq. 14 (another path than paper_f)
        P = np.array([[1 + b1 * b2, b1], [2 * b2 + b1 * b2**2, 1 + b1 * b2]])
        value = P[:, 0].sum()
        assert abs(value - printed) < 2.5e-3, init  # the ~2e-3 the printed digits allow
        # f over the box of betas a 3-decimal print stands for, by brute force on a grid
        g1, g2 = np.meshgrid(np.linspace(b1 - 5e-4, b1 + 5e-4, 201),
                             np.linspace(b2 - 5e-4, b2 + 5e-4, 201))  # fmt: skip
        box = g1 * g2**2 + g1 * g2 + 2 * g2 + 1
        lo, hi = f_rounding_range(b1, b2)
        assert lo == pytest.approx(box.min(), abs=1e-9) and hi == pytest.approx(box.max(), abs=1e-9)
        if not box.min() - 5e-4 <= printed <= box.max() + 5e-4:
            misses.append(init)
    assert misses == [(-0.6, 0.8)]  # learned (-0.612, 0.761): f = 1.7018, printed 1.704
    rows = [r for r in paper_table() if r["quantity"] == "f after training (Table 7)"]
    assert len(rows) == 16
    assert [r["where"].startswith("init (-0.6, 0.8)") for r in rows if not r["agrees"]] == [True]


def _torch_count(sizes, recurrent):
    """Parameters of the network as PyTorch builds it (Linear weights and biases), plus the two
    logits of each TC-LIF layer."""
    import torch

    layers = [torch.nn.Linear(m, n) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
    layers += [torch.nn.Linear(sizes[h], sizes[h]) for h in recurrent]
    return sum(p.numel() for layer in layers for p in layer.parameters()) + 2 * (len(sizes) - 2)


def test_parameter_counts_of_tables_1_and_6():
    exact = [44768, 85136, 63640, 155088, 106216, 196516, 108824, 141848, 110759, 110757]
    assert [parameter_count(a.sizes, a.recurrent) for a in ARCHITECTURES] == exact
    for arch, n in zip(ARCHITECTURES, exact, strict=True):
        assert _torch_count(arch.sizes, arch.recurrent) == n
        assert round(n / 1000, 1) == arch.printed_k, arch  # every printed K value matches
    # by hand: 1-40-256-128-10 = 80 + 10496 + 32896 + 1290 weights and biases + 3 x 2 logits
    assert 80 + 10496 + 32896 + 1290 + 6 == 44768
    rows = [r for r in paper_table() if r["quantity"].startswith("parameters")]
    assert len(rows) == 10 and all(r["agrees"] for r in rows)
    with pytest.raises(ValueError, match="recurrent"):
        parameter_count((1, 4, 2), recurrent=(2,))


def _hand_energy_pj(k, rates, inputs, readout):
    """Table 2 written out for 1-64-256-256-10 with recurrence in hidden layers 1 and 2
    (k = 1 for LIF, 2 for TC-LIF; 0.9 pJ per accumulate, 4.6 pJ per multiply-accumulate)."""
    r1, r2, r3 = rates
    e = (1 * 64 * 1.0 * 0.9 if inputs else 0.0) + (64 * 64 + k * 64) * r1 * 0.9 + k * 64 * 4.6
    e += 64 * 256 * r1 * 0.9 + (256 * 256 + k * 256) * r2 * 0.9 + k * 256 * 4.6
    e += 256 * 256 * r2 * 0.9 + k * 256 * r3 * 0.9 + k * 256 * 4.6
    if readout:
        e += 256 * 10 * r3 * 0.9
    return e


def test_energy_of_table_2_which_counting_reproduces_which_number():
    agrees = {}
    for neuron, k in (("lif", 1), ("tclif", 2)):
        for inputs in (True, False):
            for readout in (False, True):
                nj = _hand_energy_pj(k, FIRING_RATES[neuron], inputs, readout) / 1000
                got = network_energy_nj(
                    neuron, (1, 64, 256, 256, 10), FIRING_RATES[neuron], (1, 2), inputs, readout
                )
                assert got == pytest.approx(nj, rel=1e-12)
                agrees[neuron, inputs, readout] = round(nj, 1) == ENERGY_PRINTED[neuron]
    # LIF's 23.8 needs the first layer's input synapses left out (23.896 with them);
    # TC-LIF's 28.2 needs them and the readout layer (28.114 without the readout).
    assert {key for key, ok in agrees.items() if ok} == {
        ("lif", False, False), ("lif", False, True), ("tclif", True, True),
    }  # fmt: skip
    assert _hand_energy_pj(1, FIRING_RATES["lif"], True, False) == pytest.approx(23895.6, abs=0.05)
    # LSTM: 4 (m n + n n) + 17 n multiply-accumulates per layer; no S-MNIST network gives 2834.7
    lstm = {e["network"]: e["nJ"] for e in energy_table() if e["neuron"] == "lstm"}
    hand = 4 * (64 + 64**2) + 17 * 64 + 4 * (64 * 256 + 256**2) + 17 * 256
    hand += 4 * (256 * 256 + 256**2) + 17 * 256
    assert lstm["1-64-256-256-10, LSTM layers"] == pytest.approx(hand * 4.6 / 1000, rel=1e-12)
    assert lstm["1-64-256-256-10, LSTM layers"] == pytest.approx(4040.64, abs=0.01)
    assert all(round(v, 1) != 2834.7 for v in lstm.values()) and len(lstm) == 3
    ratio = next(r for r in paper_table() if r["quantity"] == "LSTM / TC-LIF energy")
    assert ratio["recomputed"] == pytest.approx(2834.7 / 28.2) and ratio["agrees"]
    assert 100 < 2834.7 / 28.2 < 100.6


def test_every_row_has_a_group_and_a_source():
    rows = paper_table()
    groups = {r["group"] for r in rows}
    assert groups == {"printed in the paper", "derived here"}
    assert all(r["source"] for r in rows)
    derived = {r["quantity"] for r in rows if r["group"] == "derived here"}
    assert derived == {
        "beta1 = -sigmoid(c1)", "beta2 = sigmoid(c2)", "theta", "period", "real eigenvalue",
        "alpha^784 (LIF)",
    }  # fmt: skip
    assert all("THEORY" not in r["source"] and ".md" not in r["source"] for r in rows)
    assert rows.index(next(r for r in rows if r["group"] == "derived here")) == sum(
        r["group"] == "printed in the paper" for r in rows
    )  # the printed group first, then the derived one


def test_paper_command_names_the_paper_and_explains_agrees(capsys):
    from lstmlif.cli import main

    with pytest.raises(SystemExit):
        main(["paper", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("Long Short-term Memory with Two-Compartment Spiking Neuron", "2307.07231",
                   "TC-LIF", "AAAI 2024", "2308.13250"):  # fmt: skip
        assert needle in text
    assert main(["paper"]) == 0
    out = capsys.readouterr().out
    assert out.index("Printed in the paper") < out.index("Derived here")
    assert out.count("agrees: ") == 2 and "source" in out
    assert main(["paper", "--only-disagreements", "--json"]) == 0
    bad = json.loads(capsys.readouterr().out)
    assert bad and all(r["agrees"] is False for r in bad)
    assert {r["quantity"] for r in bad} >= {"f after training (Table 7)", "energy LSTM (nJ/step)"}


# ----------------------------------------------------------------------------- stated ranges


def _column_sums_by_hand(b1, b2):
    """The two signed column sums of eq. 14's P, written out (not the module's code)."""
    first = (1 + b1 * b2) + (2 * b2 + b1 * b2**2)
    second = b1 + (1 + b1 * b2)
    return first, second


def _quantity_by_hand(name, b1, b2):
    first, second = _column_sums_by_hand(b1, b2)
    return {"first_column": first, "column_max": np.maximum(first, second)}[name]


def test_every_range_a_row_states_holds_on_a_fine_grid():
    """Each range attached to a row of ``lstmlif paper`` (as data: quantity, box, inf, sup,
    closed or open), evaluated on a 1201 x 1201 grid of its box by the column sums written out
    here: the grid's least and greatest values meet inf and sup (to the grid's resolution), no
    grid value lies outside [inf, sup], and on an open box the values inside lie strictly
    between."""
    rows = paper_table()
    checked = 0
    for r in rows:
        if " in (" in r["where"]:  # a range in the row's text has its data
            assert r["ranges"], r["quantity"]
        for rg in r["ranges"]:
            (a1, c1), (a2, c2) = rg["beta1"], rg["beta2"]
            g1 = np.linspace(a1, c1, 1201)[:, None]
            g2 = np.linspace(a2, c2, 1201)[None, :]
            v = _quantity_by_hand(rg["quantity"], g1, g2)
            # both column sums are Lipschitz on the unit square with constant < 5.9 (gradient
            # norm), and the grid has a point within h / sqrt(2) of any point: 4.2 h
            tol = 4.2 * max(c1 - a1, c2 - a2) / 1200 + 1e-12
            assert v.min() == pytest.approx(rg["inf"], abs=tol), (r["quantity"], r["where"], rg)
            assert v.max() == pytest.approx(rg["sup"], abs=tol), (r["quantity"], r["where"], rg)
            assert v.min() >= rg["inf"] - 1e-12 and v.max() <= rg["sup"] + 1e-12
            if not rg["closed"]:
                inner = v[1:-1, 1:-1]
                assert inner.min() > rg["inf"] - 1e-12 and inner.max() < rg["sup"] + 1e-12
            checked += 1
    assert checked == 16 + 1 + 2 * 4  # Table 7 after training, inf f, the four quadrants


def test_quadrant_rows_state_the_larger_column_sum():
    rows = {r["quantity"][:10]: r for r in paper_table() if r["quantity"].startswith("quadrant")}
    q4 = rows["quadrant 4"]
    # eq. 15 over the fourth quadrant is the second column 1 + b1 (1 + b2), in (1, 2): the
    # first column's (-1, 1) is not the bound; on the grid 0.05..0.95, [1.0025, 1.9025]
    assert q4["where"] == "f = larger column sum in (1, 2); first column in (-1, 1)"
    assert q4["recomputed"].startswith("f: f > 1: bound grows")
    g = np.linspace(0.05, 0.95, 19)
    first, second = _column_sums_by_hand(g[:, None], -g[None, :])
    v = np.maximum(first, second)
    assert (v.min(), v.max()) == pytest.approx((1.0025, 1.9025), abs=1e-12)
    assert np.all(second > first)
    # third quadrant: inf sqrt(2) - 1, approached at b1 -> -1, b2 -> 1 - sqrt(2)
    assert rows["quadrant 3"]["ranges"][0]["inf"] == pytest.approx(math.sqrt(2) - 1, abs=1e-15)
    assert "larger column sum in (0.4142, 1)" in rows["quadrant 3"]["where"]
    # every reading agrees with the range it reads
    for r in rows.values():
        lo, hi = r["ranges"][0]["inf"], r["ranges"][0]["sup"]
        if lo >= 1:
            assert "f > 1: bound grows" in r["recomputed"]
        else:
            assert -1 <= lo and hi <= 1 and "|f| < 1: bound shrinks" in r["recomputed"]
    # on the second quadrant the printed formula is the larger column (eq. 15's f is paper_f)
    b1, b2 = -g[:, None], g[None, :]
    np.testing.assert_allclose(paper_column_max(b1, b2), paper_f(b1, b2), rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="quadrant"):
        column_max_range(0)
