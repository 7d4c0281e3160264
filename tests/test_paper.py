"""The paper's printed numbers (THEORY section 3) against independent recomputation."""

import json
import math

import numpy as np
import pytest

from lstmlif.analysis.paper import (
    PAPER_SETTINGS,
    PERIODS,
    TABLE7,
    TABLE7_BETA1,
    TABLE7_BETA2,
    E_matrix,
    f_range_unit_square,
    paper_column_sums,
    paper_f,
    paper_matrix,
    paper_table,
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
