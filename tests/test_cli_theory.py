"""``lstmlif inspect``, ``derive`` and ``paper``: output, ``--json`` and exit status 2."""

import json
import math

import pytest

from lstmlif.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_inspect_lstmlif_json(capsys):
    code, out, _ = _run(capsys, "inspect", "lstmlif", "--param", "beta1=-0.5", "--param",
                        "beta2=0.5", "--json")  # fmt: skip
    assert code == 0
    rep = json.loads(out)
    assert rep["class"] == "marginal"
    assert rep["spectral_radius"] == pytest.approx(1.0, abs=1e-15)
    assert rep["period"] == pytest.approx(2 * math.pi / math.acos(0.875), rel=1e-12)
    assert rep["memory_horizon"] == "inf"
    assert rep["jacobian"] == [[1.0, -0.5], [0.5, 0.75]]
    assert rep["sup_norm_1"] > 1 and rep["sup_norm_2"] > 1
    assert rep["det"] == pytest.approx(1.0, abs=1e-15)


def test_inspect_growing_model_reports_inf(capsys):
    code, out, _ = _run(capsys, "inspect", "lstmlif", "--param", "beta1=0.5", "--param",
                        "beta2=0.5", "--json")  # fmt: skip
    assert code == 0
    rep = json.loads(out)
    assert rep["class"] == "growing" and rep["sup_norm_2"] == "inf"
    lam = (2.25 + math.sqrt(2.25**2 - 4)) / 2
    # J = [[1, 0.5], [0.5, 1.25]] is symmetric: ||J^k||_2 = lam^k exactly
    assert rep["log10_sup_norm_2"] == pytest.approx(10000 * math.log10(lam), rel=1e-12)
    assert rep["eigenvalues"][0] == pytest.approx([lam, 0.0], rel=1e-14)


def test_inspect_text_and_logits(capsys):
    code, out, _ = _run(capsys, "inspect", "lif", "--param", "alpha=0.8", "--kmax", "100")
    assert code == 0
    assert "memory horizon" in out and f"{-1 / math.log(0.8):.4f}" in out
    assert "period: none" in out
    code, out, _ = _run(capsys, "inspect", "tclif", "--logits", "1.5", "-0.5", "--json")
    rep = json.loads(out)
    assert rep["params"]["beta1"] == pytest.approx(-1 / (1 + math.exp(-1.5)))
    code, out, _ = _run(capsys, "inspect", "alif", "--param", "tau_a=700", "--kmax", "10")
    assert code == 0 and "decaying" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["inspect", "lif", "--param", "alpha=1.5"], "alpha"),
        (["inspect", "lif", "--param", "foo=1"], "foo"),
        (["inspect", "lif", "--param", "alpha=abc"], "not a number"),
        (["inspect", "lif", "--param", "alpha"], "NAME=VALUE"),
        (["inspect", "lif", "--param", "alpha=nan"], "finite"),
        (["inspect", "neuron"], "unknown model"),
        (["inspect", "lif", "--logits", "0", "0"], "lstmlif"),
        (["inspect", "lstmlif", "--param", "beta1=[1,2]"], "not a number"),
        (["derive", "neuron"], "unknown model"),
    ],
)
def test_bad_input_exits_2(capsys, argv, needle):
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert needle in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["derive", "lif", "--convention", "bogus"])
    assert exc.value.code == 2


def test_derive_outputs(capsys):
    code, out, _ = _run(capsys, "derive", "lstmlif", "--json")
    assert code == 0
    rep = json.loads(out)
    assert rep["checks"] and all(c["holds"] for c in rep["checks"])
    code, out, _ = _run(capsys, "derive", "two_compartment", "--convention", "code")
    assert code == 0 and "alpha1*alpha2" in out and "0 not confirmed" in out
    code, out, _ = _run(capsys, "derive", "lif", "--reset", "zero", "--detach-reset", "--latex")
    assert code == 0 and "\\alpha" in out


def test_paper_outputs(capsys):
    code, out, _ = _run(capsys, "paper", "--json")
    assert code == 0
    rows = json.loads(out)
    assert sum(r["quantity"] == "f (Table 7)" and r["agrees"] for r in rows) == 16
    code, out, _ = _run(capsys, "paper")
    assert code == 0 and "1.352" in out and "12.43" in out
