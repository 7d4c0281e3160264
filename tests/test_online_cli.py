"""lstmlif online (the command line), the bias prediction, the bias study's configurations and
the online_bias figure's numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstmlif.cli import main
from lstmlif.online.bias import configurations, load_configs
from lstmlif.online.core import make_inputs, make_layer
from lstmlif.online.predict import predicted_bias


def test_cli_json_reports_every_rule_against_bptt(capsys):
    code = main(
        [
            "online",
            "alif",
            "--steps",
            "80",
            "--hidden",
            "3",
            "--seeds",
            "0",
            "1",
            "--json",
            "--rules",
            "bptt",
            "rtrl",
            "ostl",
            "eprop",
            "eprop_random",
            "ottt",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["seed"] for r in out["runs"]] == [0, 1]
    for run in out["runs"]:
        assert run["spikes"] > 0
        rules = run["rules"]
        assert rules["bptt"]["relative_error"] == 0
        assert rules["rtrl"]["relative_error"] < 1e-10
        assert set(rules["rtrl"]["per_tensor"]) == {"w_in", "w_rec", "log_tau_m", "log_tau_a"}
        for name in ("ostl", "eprop", "eprop_random", "ottt"):
            assert 1e-6 < rules[name]["relative_error"] < np.inf
            assert -1 <= rules[name]["cosine"] <= 1
            assert rules[name]["memory_bytes"] > 0 and rules[name]["seconds"] > 0
    assert (
        out["summary"]["rtrl"]["memory_bytes"]["max"]
        > out["summary"]["ostl"]["memory_bytes"]["max"]
    )


def test_cli_without_recurrence_makes_ostl_exact(capsys):
    assert (
        main(
            [
                "online",
                "lif",
                "--steps",
                "80",
                "--recurrent-scale",
                "0",
                "--json",
                "--rules",
                "ostl",
                "--loss",
                "linear",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["runs"][0]["spikes"] > 0
    assert out["runs"][0]["rules"]["ostl"]["relative_error"] < 1e-10


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["online", "nope"], "unknown model"),
        (["online", "lif", "--rules", "xyz"], "unknown rule"),
        (["online", "lif", "--hidden", "0"], "--hidden"),
        (["online", "lif", "--steps", "0"], "--steps"),
        (["online", "lif", "--hidden", "2000", "--steps", "5"], "influence tensor"),
        (["online", "lif", "--hidden", "2", "--steps", "5000000", "--rules", "ostl"], "BPTT"),
        (["online", "lif", "--recurrent-scale", "-1"], "--recurrent-scale"),
        (["online", "lif", "--input-mean", "nan"], "--input-mean"),
        (["online", "lif", "--seeds", "-1"], "--seeds must lie in [0, 2^32 - 1], got -1"),
        (["online", "lif", "--rules", "eprop_random", "--loss", "linear"], "readout"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_prediction_is_zero_where_the_rule_is_exact():
    """Without recurrent weights OSTL keeps the whole Jacobian (d = 0); with them d > 0; for
    e-prop d > 0 even without them when the held reset cuts something (LIF)."""
    layer = make_layer("lif", 3, 3, recurrent=False, seed=0)
    u = make_inputs(layer, 100, 1, seed=1)
    assert predicted_bias(layer, u, "ostl") == 0.0
    assert predicted_bias(layer, u, "eprop") > 0
    rec = make_layer("lif", 3, 3, recurrent_scale=1.0, seed=0)
    assert predicted_bias(rec, make_inputs(rec, 100, 1, seed=1), "ostl") > 0
    with pytest.raises(ValueError, match="no prediction"):
        predicted_bias(layer, u, "rtrl")


def test_bias_configurations_are_the_committed_grid():
    spec = load_configs()
    configs = list(configurations(spec))
    assert len(spec["seeds"]) >= 5
    grid = spec["grid"]
    n_grid = len(grid["models"]) * len(grid["recurrent_scale"]) * len(grid["input_mean_factor"])
    assert len(configs) == n_grid + 2 + 4  # the extra sweeps; ALIF's shared point counted once
    assert len({tuple(sorted(c.items(), key=str)) for c in configs}) == len(configs)


def test_registry_configurations_cover_every_registered_model():
    from lstmlif.neurons import model_names
    from lstmlif.online.bias import CONFIG_FILE

    spec = load_configs(CONFIG_FILE.with_name("bias_configs_registry.json"))
    configs = list(configurations(spec))
    assert {c["model"] for c in configs} == set(model_names())
    assert len(configs) == 2 * len(model_names())


def test_figure_numbers_small():
    from lstmlif.figures import fig_online_bias

    data = fig_online_bias.compute(steps=40, seeds=(0,), models=("alif",))
    key = "alif/error"
    err = data[key]
    pred = data[key.replace("error", "predicted")]
    assert err.shape == pred.shape == (3, 3, 1)
    assert np.all(np.isfinite(err)) and np.all(err > 1e-6)
    assert np.all(pred > 0)
    assert np.all(data[key.replace("error", "rate")] > 0)


def test_cli_float32_rules_against_the_float64_reference(capsys):
    assert (
        main(
            [
                "online",
                "lstmlif",
                "--steps",
                "100",
                "--dtype",
                "float32",
                "--json",
                "--rules",
                "rtrl",
                "ostl",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    run = out["runs"][0]
    assert run["spikes"] > 0 and out["dtype"] == "float32"
    assert 1e-12 < run["rules"]["rtrl"]["relative_error"] < 1e-4
