"""lstmlif compare: each model's statistics at its initialisation draws against closed forms
(LIF -1/ln 0.8, ALIF tau_a, PLIF -1/ln(1 - 1/tau_0), adLIF's growing share a < beta - 1 and
E[beta]/2, EF's bound on A), the verdicts of the declared claims, and the command line."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest

from lstmlif.analysis.compare import compare_model, compare_table
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
