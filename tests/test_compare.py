"""lstmlif compare: each model's statistics at its initialisation draws against closed forms
(LIF -1/ln 0.8, ALIF tau_a, PLIF -1/ln(1 - 1/tau_0), adLIF's growing share a < beta - 1 and
E[beta]/2, EF's bound on A), the verdicts of the declared claims, the population values against
10^6 draws and another route, the early-exit power sweep against the plain one, the limits and
the command line."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest

from lstmlif.analysis.compare import (
    DEFAULT_DRAWS,
    MAX_BYTES,
    MAX_SECONDS,
    PROGRESS_SECONDS,
    TOOLKIT_SOURCE,
    compare_model,
    compare_table,
    estimate,
    log10_sup_norms,
    wilson_interval,
)
from lstmlif.analysis.stability import classify, log10_power_norms
from lstmlif.cli import main
from lstmlif.neurons import model_class, model_names
from lstmlif.neurons.base import VERDICTS
from lstmlif.neurons.catalogue.adlif import ADLIF_INIT

KW = {"draws": 400, "seed": 3, "kmax": 300}


def _draws(name: str, draws: int = 400, seed: int = 3):
    """The draws compare makes (its stream: seed, the CRC-32 of the model's name)."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return model_class(name).sample_init(rng, draws).params()


def test_fixed_settings_of_the_paper_models():
    lif = compare_model("lif", **KW)
    assert lif["memory_horizon"]["median"] == pytest.approx(-1 / math.log(0.8), rel=1e-12)
    assert lif["memory_horizon"]["min"] == lif["memory_horizon"]["max"]
    assert lif["growing"] == 0.0 and lif["log10_sup_norm"]["max"] == 0.0
    alif = compare_model("alif", **KW)  # tau_m = 20, tau_a = 200: the slowest mode tau_a
    assert alif["memory_horizon"]["median"] == pytest.approx(200.0, rel=1e-9)
    lstm = compare_model("lstmlif", **KW)  # (c1, c2) = (0, 0): |lambda| = 1
    assert math.isinf(lstm["memory_horizon"]["median"]) and lstm["growing"] == 0.0


def test_adlif_growing_share_is_a_below_beta_minus_one():
    row = compare_model("adlif", **KW)
    d = _draws("adlif")
    assert row["growing"] == pytest.approx(np.mean(d["a"] < d["beta"] - 1), abs=1e-12)
    # a ~ U[-1, 1] independent of beta: P(a < beta - 1) = E[beta] / 2
    lo, hi = ADLIF_INIT["beta"]
    p = (lo + hi) / 4
    assert abs(row["growing"] - p) < 4 * math.sqrt(p * (1 - p) / KW["draws"])
    for k, (lo, hi) in ADLIF_INIT.items():
        assert lo <= row["params"][k]["min"] and row["params"][k]["max"] <= hi
    verdicts = [c["verdict"] for c in row["claims"]]
    assert verdicts == ["not testable", "holds"]


def test_se_and_ef_at_the_official_initialisation():
    se, ef = compare_model("se-adlif", **KW), compare_model("ef-adlif", **KW)
    assert se["growing"] == 0.0
    d = _draws("ef-adlif")
    al, be = np.exp(-1 / d["tau_u"]), np.exp(-1 / d["tau_w"])
    upper = (1 - al * be) / ((1 - al) * (1 - be))
    expected = np.mean(d["q"] * d["a"] > upper)
    assert ef["growing"] == pytest.approx(expected, abs=1e-12) and 0 < expected < 0.2
    assert all(c["verdict"] == "holds" for c in se["claims"] + ef["claims"])
    assert len(se["claims"]) == 3
    # the draws lie in the official ranges
    assert 5.0 <= se["params"]["tau_u"]["min"] and se["params"]["tau_w"]["max"] <= 300.0


def test_plif_memory_horizons_are_those_of_tau0():
    row = compare_model("plif", **KW)
    h2, h16 = -1 / math.log(0.5), -1 / math.log(1 - 1 / 16)
    assert row["memory_horizon"]["min"] == pytest.approx(h2, rel=1e-12)
    assert row["memory_horizon"]["max"] == pytest.approx(h16, rel=1e-9)
    assert row["growing"] == 0.0


def test_every_model_has_a_row_and_valid_verdicts():
    rows = compare_table(draws=20, seed=0, kmax=50)
    assert [r["model"] for r in rows] == list(model_names())
    for r in rows:
        assert 0.0 <= r["growing"] <= 1.0
        for c in r["claims"]:
            assert c["verdict"] in VERDICTS and c["quote"] and c["source"]


def test_draws_do_not_depend_on_the_selection():
    alone = compare_table(("ef-adlif",), **KW)[0]
    together = compare_table(("adlif", "ef-adlif"), **KW)[1]
    assert alone == together


def test_command_line(capsys):
    code = main(["compare", "--models", "adlif", "plif", "--draws", "50", "--kmax", "100"])
    out = capsys.readouterr().out
    assert code == 0 and "adLIF" in out and "PLIF" in out and "[holds]" in out
    code = main(["compare", "--json", "--models", "lif", "--draws", "5", "--kmax", "10"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc[0]["model"] == "lif" and doc[0]["draws"] == 5
    assert main(["compare", "--draws", "0"]) == 2
    assert "draws must be an integer >= 1" in capsys.readouterr().err
    assert main(["compare", "--models", "hh"]) == 2
    assert "unknown model name" in capsys.readouterr().err


# ----------------------------------------------------------------------------- population values


def test_wilson_interval_against_scipy():
    from scipy.stats import binomtest

    for k, n in ((0, 100000), (3, 10), (4893, 10000), (100000, 100000), (1, 1)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(5, 4)


def _population_models():
    return [n for n in model_names() if model_class(n).init_population()]


@pytest.mark.slow
def test_population_values_lie_in_the_interval_of_a_million_draws():
    """Every population value a class states against 10^6 of its own draws: inside the 99.9%
    Wilson interval (a 95% one would miss 1 time in 20 by chance)."""
    names = _population_models()
    assert {"adlif", "se-adlif", "ef-adlif", "brf", "rf", "plif", "dhlif"} <= set(names)
    z999 = 3.2905267314919255
    n = 10**6
    for name in names:
        if name == "dhlif":
            continue  # 5 x 5 eigenvalues of 10^6 draws: checked below on 10^5
        cls = model_class(name)
        labels = classify(cls.sample_init(np.random.default_rng(11), n))
        for key, (p, how) in cls.init_population().items():
            k = (
                int(np.sum(labels == "growing"))
                if key == "growing"
                else int(np.sum(np.char.find(labels.astype(str), "decaying") >= 0))
            )
            lo, hi = wilson_interval(k, n, z999)
            assert lo <= p <= hi, (name, key, p, k / n, how)
            assert how.startswith(("closed form", "numerical integral")), how
    labels = classify(model_class("dhlif").sample_init(np.random.default_rng(11), 10**5))
    assert np.all(labels == "decaying")


def test_population_closed_forms_by_another_route():
    # adLIF: a ~ U[-1, 1] independent of beta, P(a < beta - 1) = E[beta] / 2, by hand
    lo, hi = math.exp(-1 / 30), math.exp(-1 / 120)
    p = model_class("adlif").init_population()["growing"][0]
    assert p == pytest.approx((lo + hi) / 4, abs=1e-15) and round(100 * p, 2) == 48.97
    # EF-adLIF: a midpoint grid over (tau_u, tau_w) of P(a > (1 - alpha beta)/(120 D))
    g = 4000
    tu = 5 + 20 * (np.arange(g) + 0.5) / g
    tw = 60 + 240 * (np.arange(g) + 0.5) / g
    al, be = np.exp(-1 / tu)[:, None], np.exp(-1 / tw)[None, :]
    bound = (1 - al * be) / ((1 - al) * (1 - be)) / 120
    grid = np.mean(np.clip(1 - bound, 0, 1))
    p_ef = model_class("ef-adlif").init_population()["growing"][0]
    assert p_ef == pytest.approx(grid, abs=2e-6) and round(100 * p_ef, 2) == 3.57
    # RF: per task box, a midpoint grid over (omega, c) of dt omega^2 > c (2 - dt c)
    boxes = (((15, 85), (0.1, 1.0)), ((5, 10), (2, 3)), ((3, 5), (0.1, 1.0)))
    shares = []
    for (wl, wh), (cl, ch) in boxes:
        w = wl + (wh - wl) * (np.arange(g) + 0.5) / g
        c = cl + (ch - cl) * (np.arange(g) + 0.5) / g
        shares.append(np.mean(0.01 * w[:, None] ** 2 > c[None, :] * (2 - 0.01 * c[None, :])))
    assert shares[0] == 1.0 and shares[1] == 0.0
    p_rf = model_class("rf").init_population()["growing"][0]
    assert p_rf == pytest.approx(np.mean(shares), abs=1e-5) and round(100 * p_rf, 2) == 33.45
    # SE-adLIF: its bound (1 + alpha)(1 + beta)/D is least at tau_u = 5, tau_w = 60: > 120
    a5, b60 = math.exp(-1 / 5), math.exp(-1 / 60)
    assert (1 + a5) * (1 + b60) / ((1 - a5) * (1 - b60)) > 1200
    assert model_class("se-adlif").init_population()["growing"][0] == 0.0


def test_every_share_is_printed_with_its_interval_and_population():
    row = compare_model("adlif", draws=2000, seed=1, kmax=50)
    g = row["growing_share"]
    assert g["n"] == 2000 and g["k"] == round(row["growing"] * 2000)
    assert g["ci95"] == pytest.approx(list(wilson_interval(g["k"], 2000)))
    assert g["population"] == pytest.approx(0.4897293, abs=1e-7)
    assert g["method"].startswith("closed form")
    ev = row["claims"][1]["evidence"]
    assert "of 2000 draws (95% CI " in ev and "population 48.97%" in ev
    # a fixed setting: the share of the draws is the population value itself
    lif = compare_model("lif", draws=50, seed=0, kmax=10)["growing_share"]
    assert lif["population"] == 0.0 and lif["method"] == "every draw is the same setting"
    # no population value where none is known (LSTM-LIF's 16 settings): the interval only
    lstm = compare_model("lstmlif", draws=50, seed=0, kmax=10)["growing_share"]
    assert lstm["population"] is None and lstm["ci95"][1] > 0
    # every percentage in every evidence line of the catalogue comes with its interval
    for r in compare_table(("adlif", "se-adlif", "ef-adlif", "brf", "plif", "dhlif"), 300, 0, 20):
        for c in r["claims"]:
            n_pct = c["evidence"].count("% of ")
            assert n_pct == c["evidence"].count("(95% CI "), c["evidence"]


def test_rf_says_it_borrows_brf_ranges():
    rf = compare_model("rf", draws=10, seed=0, kmax=10)
    assert "borrows these ranges" in rf["initialisation"]
    assert "BRF's task boxes (RF borrows them)" in rf["growing_share"]["method"]


# ----------------------------------------------------------------------------- power sweep


def test_log10_sup_norms_agree_with_the_plain_sweep():
    """The early-exit sweep (distinct matrices, Frobenius screen, exit at ||J^k||_F <= 1)
    against stability's plain sweep over every k, on decaying, transient, marginal and
    growing matrices of 1, 2 and 3 states."""
    rng = np.random.default_rng(5)
    for n in (1, 2, 3):
        A = rng.normal(size=(300, n, n))
        A /= np.max(np.abs(np.linalg.eigvals(A)), axis=-1)[:, None, None]
        A *= rng.choice([0.5, 0.95, 1.0, 1.002], size=300)[:, None, None]
        A[:5] = A[0]  # repeated matrices are swept once
        got = log10_sup_norms(A, 400)
        want = log10_power_norms(A, 400, ord=2).max(axis=-1)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        assert np.any(want > 0.3) and np.any(want == 0.0)
    # a zero matrix and a nilpotent one: ||J^0|| = 1, ||N|| = 5, N^2 = 0
    nil = np.array([[[0.0, 5.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    np.testing.assert_allclose(log10_sup_norms(nil, 10), [math.log10(5), 0.0], atol=1e-15)


# ----------------------------------------------------------------------------- limits


def test_refusals_name_the_options_and_the_estimate():
    msg = (
        "compare: --draws 100000 --norm-draws 100000 --kmax 20000 over 1 model(s) would take "
        "at most about 10.1 min and 61 MiB (20000 sweep steps over up to 100000 distinct draws "
        "of a model, none leaving early); the limit is 10 min: lower --norm-draws or --kmax"
    )
    with pytest.raises(ValueError) as err:
        compare_table(("adlif",), draws=100000, seed=0, kmax=20000, norm_draws=100000)
    assert str(err.value) == msg
    with pytest.raises(ValueError) as err:
        compare_model("adlif", draws=100000, seed=0, kmax=20000, norm_draws=100000)
    assert str(err.value) == msg
    msg = (
        "compare: --draws 10000000 needs about 17.7 GiB for a model of 5 states (about 1900 "
        "bytes per draw); the limit is 4 GiB: lower --draws"
    )
    with pytest.raises(ValueError) as err:
        compare_table(draws=10**7)
    assert str(err.value) == msg
    # the command of the report (every model, 10^5 draws, kmax 20000) is within the limits
    est = estimate(model_names(), 100000, 0, 20000, 1000)
    assert est.seconds <= MAX_SECONDS and est.bytes <= MAX_BYTES


def test_refusal_on_the_command_line(capsys):
    argv = ["compare", "--draws", "100000", "--norm-draws", "100000", "--kmax", "20000"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "lstmlif compare: error: compare: --draws 100000 --norm-draws 100000 --kmax 20000 over "
        f"{len(model_names())} model(s) would take at most about "
        f"{estimate(model_names(), 100000, 0, 20000, 100000).seconds / 3600:.1f} h and 181 MiB "
        "(20000 sweep steps over up to 100000 distinct draws of a model, none leaving early); "
        "the limit is 10 min: lower --norm-draws or --kmax"
    )
    assert main(["compare", "--norm-draws", "0"]) == 2
    assert "norm_draws must be an integer >= 1" in capsys.readouterr().err


def test_progress_bar_only_when_asked_or_long(capsys):
    compare_table(("lif",), draws=10, seed=0, kmax=20)
    assert capsys.readouterr().err == ""  # estimated far below PROGRESS_SECONDS
    assert estimate(("lif",), 10, 0, 20, 10).seconds < PROGRESS_SECONDS
    compare_table(("lif",), draws=10, seed=0, kmax=20, progress=True)
    assert "compare" in capsys.readouterr().err
    assert estimate(model_names(), DEFAULT_DRAWS, 0, 10000, 1000).seconds > PROGRESS_SECONDS


def test_papers_claims_apart_from_the_toolkits_statements(capsys):
    row = compare_model("adlif", draws=200, seed=0, kmax=20)
    assert [c["kind"] for c in row["claims"]] == ["paper", "toolkit"]
    assert row["claims"][1]["source"].startswith(TOOLKIT_SOURCE)
    assert main(["compare", "--models", "adlif", "plif", "--draws", "200", "--kmax", "20"]) == 0
    out = capsys.readouterr().out
    papers = out.index("Each paper's own claims")
    toolkit = out.index("The toolkit's own statements")
    assert papers < out.index("Bittar & Garner 2022") < toolkit
    assert toolkit < out.index("this toolkit (derive), adLIF")
    assert toolkit < out.index("this toolkit (derive), PLIF")
    assert papers < out.index("Fang et al. 2021") < toolkit
