"""The verification harness (analysis.gradcheck) and ``lstmlif verify``.

The harness must pass on correct code, fail on a wrong adjoint, and refuse vacuous cases.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from lstmlif.analysis import gradcheck
from lstmlif.analysis.adjoint import adjoint as real_adjoint
from lstmlif.cli import main
from lstmlif.neurons import CONVENTIONS, LIF, RESETS, get_surrogate, model_names

ALL_COMBOS = {(name, *s) for name in model_names() for s in gradcheck.switch_sets(name)}
PAPER_COMBOS = set(
    itertools.product(
        ("lif", "alif", "two_compartment", "lstmlif"), CONVENTIONS, RESETS, (False, True)
    )
)


def _check_rows(rows, dtype="float64"):
    assert {(r["model"], r["convention"], r["reset"], r["detach_reset"]) for r in rows} == (
        ALL_COMBOS
    )
    for r in rows:
        assert r["ok"], r["problems"]
        assert r["spikes"] > 0
        assert math.isfinite(r["grad_norm"]) and r["grad_norm"] > 0
        assert r["autograd_rel_err"] <= gradcheck.TOLERANCES[dtype]


def test_verify_cli_passes_and_json_parses(capsys):
    assert main(["verify", "--json", "--steps", "100", "--batch", "3", "--seed", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["device"] == "cpu" and doc["dtype"] == "float64"
    rows = doc["rows"]
    assert len(rows) == len(ALL_COMBOS)
    assert PAPER_COMBOS <= ALL_COMBOS  # the paper's models support every switch
    _check_rows(rows)
    for r in rows:
        assert r["steps"] == 100 and r["batch"] == 3
        assert r["fd_rel_err"] is not None and r["fd_rel_err"] <= gradcheck.FD_TOLERANCE


def test_verify_cli_table(capsys):
    assert main(["verify", "--models", "lstmlif", "--steps", "100", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    n = len(gradcheck.switch_sets("lstmlif"))  # 12: three resets x two conventions x detach
    assert f"{n}/{n} cases passed" in out
    assert out.count(" ok") >= n and "FAIL" not in out


def test_vacuous_cases_fail(capsys):
    """Zero input: no neuron spikes, every case is vacuous and the command fails."""
    code = main(
        [
            "verify",
            "--json",
            "--input-scale",
            "0",
            "--models",
            "lif",
            "alif",
            "--no-fd",
            "--steps",
            "40",
        ]
    )
    assert code == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and len(doc["rows"]) == 16
    for r in doc["rows"]:
        assert r["spikes"] == 0 and not r["ok"]
        assert "vacuous: no spike" in r["problems"]
    assert (
        main(["verify", "--input-scale", "0", "--models", "lstmlif", "--no-fd", "--steps", "40"])
        == 1
    )
    assert "FAIL: vacuous" in capsys.readouterr().out


def test_a_surrogate_that_misses_every_step_is_vacuous():
    """A rectangle of width 1e-9 is non-zero only within 5e-10 of the threshold: the neurons
    spike, but psi = 0 at every step, so the surrogate terms would go unchecked."""
    rng = np.random.default_rng(0)
    current = 0.3 + 0.6 * rng.standard_normal((100, 2))
    model = LIF(alpha=0.8, v_th=1.0, surrogate=get_surrogate("rectangle", width=1e-9))
    g_s, g_x = rng.standard_normal((100, 2)), {"v": rng.standard_normal((100, 2))}
    row = gradcheck.check_case(gradcheck.Case(model, current, g_s, g_x), rng, fd=False)
    assert row["spikes"] > 0 and not row["ok"]
    assert "vacuous: surrogate slope psi = 0 at every step" in row["problems"]


def test_wrong_adjoint_is_caught(monkeypatch):
    """Dropping the surrogate terms breaks agreement with autograd; a 1e-4 relative error in the
    gradient breaks both the autograd and the finite-difference checks."""

    def without_psi(*args, **kwargs):
        kwargs["psi_zero"] = True
        return real_adjoint(*args, **kwargs)

    monkeypatch.setattr(gradcheck, "adjoint", without_psi)
    rows = gradcheck.verify_table(steps=100, batch=2, models=("lif",), fd=False)
    assert all(not r["ok"] and "autograd mismatch" in r["problems"][0] for r in rows)

    def scaled(*args, **kwargs):
        res = real_adjoint(*args, **kwargs)
        return res.__class__(
            res.current * (1 + 1e-4),
            res.states,
            res.spikes,
            {k: v * (1 + 1e-4) for k, v in res.params.items()},
            res.psi,
            res.model,
        )

    monkeypatch.setattr(gradcheck, "adjoint", scaled)
    monkeypatch.setattr(gradcheck, "TOLERANCES", {"float64": 1.0})
    rows = gradcheck.verify_table(steps=100, batch=2, models=("alif",))
    for r in rows:
        assert not r["ok"] and any("finite-difference mismatch" in p for p in r["problems"])
        assert 1e-5 < r["fd_rel_err"] < 1e-3


def test_float32_autograd_on_cpu():
    rows = gradcheck.verify_table(dtype="float32", steps=100, batch=2, fd=False)
    _check_rows(rows, "float32")
    assert max(r["autograd_rel_err"] for r in rows) > 1e-12  # really float32 arithmetic


def test_finite_differences_need_an_unchanged_spike_pattern():
    """A neuron exactly at threshold (v = v_th, H(0) = 1): any step flips a spike, so no step is
    accepted; check_case then re-draws the current and passes."""
    rng = np.random.default_rng(0)
    current = 0.3 + 0.6 * rng.standard_normal((100, 2))
    current[0, 0] = 1.0
    model = LIF(alpha=0.8, v_th=1.0)
    g_s, g_x = rng.standard_normal((100, 2)), {"v": rng.standard_normal((100, 2))}
    case = gradcheck.Case(model, current, g_s, g_x)
    res = gradcheck.finite_difference_check(case, np.random.default_rng(1))
    assert res["pattern_kept"] is False and math.isnan(res["rel_err"])
    row = gradcheck.check_case(case, np.random.default_rng(2))
    assert row["ok"], row["problems"]
    assert row["fd_rel_err"] <= gradcheck.FD_TOLERANCE


def test_bad_options(capsys):
    with pytest.raises(ValueError, match="unknown device|unsupported device"):
        gradcheck.verify_table(device="tpu")
    with pytest.raises(ValueError, match="dtype"):
        gradcheck.verify_table(dtype="float16")
    with pytest.raises(ValueError, match="seed"):
        gradcheck.verify_table(seed=-1)
    with pytest.raises(ValueError, match="steps"):
        gradcheck.verify_table(steps=1)
    with pytest.raises(ValueError, match="unknown model"):
        gradcheck.verify_table(models=("hh",))
    with pytest.raises(ValueError, match="input_scale"):
        gradcheck.verify_table(input_scale=math.nan)
    with pytest.raises(ValueError, match="surrogate"):
        gradcheck.iter_verify(surrogate="bogus")
    assert main(["verify", "--device", "tpu"]) == 2
    assert main(["verify", "--steps", "1"]) == 2
    assert "steps must be" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_cuda_missing_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match="CUDA is not available"):
        gradcheck.verify_table(device="cuda")
    assert main(["verify", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_verify_on_cuda(dtype):
    """Autograd on the GPU against the NumPy adjoint along the GPU's own trajectory."""
    rows = gradcheck.verify_table(device="cuda", dtype=dtype, steps=100, batch=3)
    _check_rows(rows, dtype)
    for r in rows:
        assert r["device"] == "cuda" and r["fd_rel_err"] <= gradcheck.FD_TOLERANCE
