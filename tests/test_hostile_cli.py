"""Hostile command lines: every subcommand refuses bad input with exit 2 and one line naming
the problem (never a traceback, a hang or a silent default), and hostile calls of the public
functions raise a ValueError (or MemoryError) with the exact message asserted.

Messages of ``figures``, ``verify`` and ``inspect`` and of the neuron, stability, gradient-check
and file functions are asserted whole (long "choose one of [...]" lists up to the list, which
grows with the registry); for ``derive``, ``paper``, ``compare``, ``lyapunov`` and
``experiment`` the line must name the offending option or value.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
import torch

from lstmlif.cli import COMMANDS, main
from lstmlif.neurons import (
    LIF,
    LSTMLIF,
    exact_simulate,
    exact_spikes,
    get_model,
    make_layer,
    simulate,
)

# (argv, the whole message or its start up to a registry list): modules of the hostile suite
EXACT = [
    (
        ["figures", "--only", "nosuch"],
        "lstmlif figures: error: unknown figure name(s) ['nosuch']; choose from [",
    ),
    (
        ["figures", "--out", ""],
        "lstmlif figures: error: the figures folder name is empty; give a folder, e.g. --out out",
    ),
    (
        ["figures", "--only", "eigenvalues", "--out", "/proc/lstmlif-x"],
        "lstmlif figures: error: cannot write figures into /proc/lstmlif-x: No such file or "
        "directory",
    ),
    (["verify", "--steps", "1"], "lstmlif verify: error: steps must be an integer >= 2, got 1"),
    (["verify", "--steps", "-5"], "lstmlif verify: error: steps must be an integer >= 2, got -5"),
    (["verify", "--batch", "0"], "lstmlif verify: error: batch must be a positive integer, got 0"),
    (
        ["verify", "--steps", "1000000000"],
        "lstmlif verify: error: steps x batch = 1000000000 x 4 = 4e+09 neuron-steps per case is "
        "more than the limit 5e+06 (the autograd reference needs about 470 bytes per "
        "neuron-step); lower --steps or --batch",
    ),
    (
        ["verify", "--models", "nosuch"],
        "lstmlif verify: error: unknown model name 'nosuch'; choose one of [",
    ),
    (
        ["verify", "--surrogate", "nosuch"],
        "lstmlif verify: error: surrogate: unknown name 'nosuch'; choose one of [",
    ),
    (
        ["verify", "--device", "tpu"],
        "lstmlif verify: error: unknown device 'tpu'; use 'cpu' or 'cuda'",
    ),
    (
        ["verify", "--device", "cuda"],
        "lstmlif verify: error: device 'cuda' requested but CUDA is not available to PyTorch on "
        "this machine (torch.cuda.is_available() is False); use --device cpu",
    ),
    (
        ["verify", "--input-scale", "nan"],
        "lstmlif verify: error: input_scale must be finite, got nan",
    ),
    (
        ["verify", "--input-scale", "inf"],
        "lstmlif verify: error: input_scale must be finite, got inf",
    ),
    (
        ["verify", "--seed", "-1"],
        "lstmlif verify: error: seed must be a non-negative integer, got -1",
    ),
    (
        ["verify", "--dtype", "float16"],
        "lstmlif verify: error: argument --dtype: invalid choice: 'float16' (choose from "
        "'float32', 'float64')",
    ),
    (
        ["verify", "--steps", "abc"],
        "lstmlif verify: error: argument --steps: invalid int value: 'abc'",
    ),
    (["inspect", "nosuch"], "lstmlif inspect: error: unknown model name 'nosuch'; choose one of ["),
    (
        ["inspect", "lif", "--param", "alpha=2"],
        "lstmlif inspect: error: LIF: parameter 'alpha' must lie in (0, 1], got 2.0",
    ),
    (
        ["inspect", "lif", "--param", "alpha=nan"],
        "lstmlif inspect: error: --param alpha: must be finite, got 'nan'",
    ),
    (
        ["inspect", "lif", "--param", "tau=3"],
        "lstmlif inspect: error: LIF: unknown parameter(s) ['tau']; allowed [",
    ),
    (
        ["inspect", "lif", "--param", "alpha"],
        "lstmlif inspect: error: --param expects NAME=VALUE, got 'alpha'",
    ),
    (
        ["inspect", "lif", "--logits", "0", "0"],
        "lstmlif inspect: error: --logits applies to lstmlif / tclif only",
    ),
    (
        ["inspect", "lstmlif", "--logits", "nan", "0"],
        "lstmlif inspect: error: LSTMLIF.from_logits: parameter 'c1' must be finite (got NaN or "
        "inf); allowed (-inf, inf)",
    ),
    (["inspect", "lif", "--kmax", "-1"], "lstmlif inspect: error: --kmax must be >= 0, got -1"),
    (
        ["inspect"],
        "lstmlif inspect: error: give a registered MODEL, or --nir FILE --dt DT for a NIR graph",
    ),
]

# (argv, a word the one-line message must contain): other modules' wording may change
NAMED = [
    (["derive", "nosuch"], "nosuch"),
    (["derive"], "model"),
    (["derive", "lif", "--convention", "x"], "convention"),
    (["compare", "--draws", "0"], "draws"),
    (["compare", "--draws", "-1"], "draws"),
    (["compare", "--kmax", "-1"], "kmax"),
    (["compare", "--models", "nosuch"], "nosuch"),
    (["compare", "--seed", "-1"], "seed"),
    (["compare", "--norm-draws", "0"], "norm-draws"),
    (["lyapunov", "nosuch"], "nosuch"),
    (["lyapunov", "lif", "--steps", "0"], "steps"),
    (["lyapunov", "lif", "--steps", "1000000000000"], "steps"),
    (["lyapunov", "lif", "--seeds", "-1"], "seeds"),
    (["lyapunov", "lif", "--batch", "0"], "batch"),
    (["lyapunov", "lif", "--input-std", "-1"], "input-std"),
    (["lyapunov", "lif", "--input-mean", "nan"], "input-mean"),
    (["lyapunov", "lif", "--param", "alpha=5"], "param"),
    (["lyapunov", "lif", "--warmup", "-1"], "warmup"),
    (["lyapunov", "lif", "--surrogate", "nosuch"], "surrogate"),
    (["lyapunov", "lif", "--reset", "hard"], "reset"),
    (["lyapunov", "lif", "--batch", "100000000", "--steps", "100000"], "batch"),
    (["experiment", "nosuch"], "nosuch"),
    (
        ["experiment", "recall", "--quick", "--seeds", "-1", "--no-progress", "--out", "{tmp}/r1"],
        "seeds",
    ),
    (
        [
            "experiment",
            "recall",
            "--quick",
            "--models",
            "nosuch",
            "--no-progress",
            "--out",
            "{tmp}/r3",
        ],
        "nosuch",
    ),
    (["experiment", "recall", "--quick", "--lr", "0", "--no-progress", "--out", "{tmp}/r4"], "lr"),
    (
        ["experiment", "recall", "--quick", "--lr", "nan", "--no-progress", "--out", "{tmp}/r5"],
        "lr",
    ),
    (
        ["experiment", "recall", "--quick", "--hidden", "0", "--no-progress", "--out", "{tmp}/r6"],
        "hidden",
    ),
    (
        ["experiment", "recall", "--quick", "--workers", "0", "--no-progress", "--out", "{tmp}/r7"],
        "workers",
    ),
    (["experiment", "recall", "--quick", "--no-progress", "--out", ""], "out"),
    (["experiment", "recall", "--quick", "--no-progress", "--out", "/proc/lstmlif-x"], "recall"),
    (
        [
            "experiment",
            "recall",
            "--quick",
            "--updates",
            "-1",
            "--no-progress",
            "--out",
            "{tmp}/r8",
        ],
        "updates",
    ),
    (
        [
            "experiment",
            "recall",
            "--quick",
            "--epochs",
            "1000000000000",
            "--no-progress",
            "--out",
            "{tmp}/r9",
        ],
        "epochs",
    ),
    (
        [
            "experiment",
            "recall",
            "--quick",
            "--hidden",
            "100000000",
            "--no-progress",
            "--out",
            "{tmp}/r10",
        ],
        "hidden",
    ),
    (["paper", "--bogus"], "--bogus"),
    (["export-nir", "nosuch", "--out", "{tmp}/n1.nir"], "nosuch"),
    (["export-nir", "nir_lif", "--size", "0", "--out", "{tmp}/n2.nir"], "size"),
    (["export-nir", "nir_lif", "--dt", "-1", "--out", "{tmp}/n4.nir"], "dt"),
    (["export-nir", "nir_lif", "--dt", "nan", "--out", "{tmp}/n4.nir"], "dt"),
    (["export-nir", "nir_lif", "--param", "tau=-1", "--out", "{tmp}/n6.nir"], "tau"),
    (["export-nir", "lif", "--param", "alpha=7", "--out", "{tmp}/n5.nir"], "alpha"),
    (["export-nir", "nir_lif", "--out", "/proc/lstmlif-x/a.nir"], "/proc/lstmlif-x"),
    (["export-nir", "nir_lif", "--out", "{tmp}"], "it is a folder"),
    (["online", "nosuch"], "nosuch"),
    (["online", "lif", "--rules", "nosuch"], "nosuch"),
    (["online", "lif", "--hidden", "0"], "hidden"),
    (["online", "lif", "--steps", "0"], "steps"),
    (["online", "lif", "--steps", "1000000000000"], "steps"),
    (["online", "lif", "--batch", "0"], "batch"),
    (["online", "lif", "--input-std", "-1"], "input-std"),
    (["online", "lif", "--input-mean", "nan"], "input-mean"),
    (["online", "lif", "--hidden", "100000000"], "hidden"),
]


def _run(argv, tmp_path, capsys):
    """(exit status, the one error line): argparse's own refusals print their usage first
    (lines before the error line), every other refusal exactly one line."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    parsed = True
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own refusals
        code, parsed = stop.code, False
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.endswith("\n")
    lines = err.splitlines()
    if parsed:
        assert len(lines) == 1, err
    else:
        assert lines[0].startswith("usage: lstmlif"), err
    return code, lines[-1]


def test_every_subcommand_has_hostile_cases():
    covered = {argv[0] for argv, _ in EXACT + NAMED}
    assert covered == set(COMMANDS)


@pytest.mark.parametrize("argv, message", EXACT, ids=[" ".join(a) for a, _ in EXACT])
def test_refused_with_the_exact_message(argv, message, tmp_path, capsys):
    code, line = _run(argv, tmp_path, capsys)
    assert code == 2
    assert line.startswith(message) if message.endswith("[") else line == message


@pytest.mark.parametrize("argv, word", NAMED, ids=[" ".join(a) for a, _ in NAMED])
def test_refused_naming_the_option(argv, word, tmp_path, capsys):
    code, line = _run(argv, tmp_path, capsys)
    assert code == 2
    assert line.startswith(("lstmlif: error: ", f"lstmlif {argv[0]}: error: "))
    assert word in line or word.replace("-", "_") in line


# ----------------------------------------------------------------------------- public functions

X = torch.zeros(5, 2, dtype=torch.float64)


def _fused_spikes(*args, **kwargs):
    pytest.importorskip("numba")
    from lstmlif.neurons.fused import fused_spikes

    return fused_spikes(*args, **kwargs)


def _st():
    from lstmlif.analysis import stability

    return stability


def _iter_verify(**kwargs):
    from lstmlif.analysis.gradcheck import iter_verify

    return iter_verify(**kwargs)


def _fileio():
    from lstmlif import fileio

    return fileio


FUNCTION_CASES = [
    (
        "log10_power_norms-nan",
        lambda: _st().log10_power_norms([[math.nan]], 3),
        "J contains NaN or infinite entries",
    ),
    (
        "log10_power_norms-kmax-bool",
        lambda: _st().log10_power_norms([[0.5]], True),
        "kmax must be an integer >= 0, got True",
    ),
    (
        "jury-nan",
        lambda: _st().jury_conditions(math.nan, 0),
        "jury_conditions: det and tr must be finite",
    ),
    (
        "theta-outside",
        lambda: _st().lstmlif_theta(0, 0),
        "the closed forms need -4 < beta1*beta2 < 0 (0 < theta < pi); got beta1*beta2 = [0.]",
    ),
    (
        "power-k-negative",
        lambda: _st().lstmlif_power_closed_form(-0.5, 0.5, -1),
        "k must be integers >= 0, got array(-1)",
    ),
    (
        "power-k-float",
        lambda: _st().lstmlif_power_closed_form(-0.5, 0.5, 1.5),
        "k must be integers >= 0, got array(1.5)",
    ),
    (
        "schur-not-square",
        lambda: _st().schur_cohn_conditions([[1, 2]]),
        "J must have shape (..., n, n), got (1, 2)",
    ),
    (
        "eigenvalues-of-a-name",
        lambda: _st().eigenvalues("lif"),
        "expected a neuron model record, got str",
    ),
    (
        "jacobian-overflow",
        lambda: _st().subthreshold_jacobian(LSTMLIF(beta1=1e300, beta2=1e300)),
        "LSTMLIF: the sub-threshold Jacobian overflows float64 at these parameters (beta1=1e+300, "
        "beta2=1e+300, gamma=0.5, v_th=1): an entry (a product of parameters) is beyond 1.8e308",
    ),
    (
        "inspect-array",
        lambda: _st().inspect_model(LIF(alpha=np.array([0.5, 0.6]))),
        "inspect: give scalar parameters (one parameter point)",
    ),
    (
        "inspect-kmax-negative",
        lambda: _st().inspect_model(LIF(), kmax=-1),
        "kmax must be an integer >= 0, got -1",
    ),
    (
        "sup-norm-ord-3",
        lambda: _st().sup_power_norm(LIF(), ord=3),
        "ord must be 1, 2 or inf, got 3",
    ),
    (
        "verify-steps-bool",
        lambda: _iter_verify(steps=True),
        "steps must be an integer >= 2, got True",
    ),
    (
        "verify-no-models",
        lambda: _iter_verify(models=[]),
        "models is empty: name at least one model (None: every model)",
    ),
    (
        "exact-checkpoint-0",
        lambda: exact_spikes(LIF(), X, checkpoint=0),
        "exact_spikes: checkpoint must be None or an int >= 1, got 0",
    ),
    (
        "exact-kernel",
        lambda: exact_simulate(LIF(), X, kernel="x"),
        "exact_simulate: unknown kernel 'x'; choose one of ['auto', 'hand', 'generic']",
    ),
    (
        "fused-store",
        lambda: _fused_spikes(LIF(), X, store="x"),
        "fused_spikes: unknown store 'x'; choose one of ['min', 'all']",
    ),
    (
        "fused-checkpoint-0",
        lambda: _fused_spikes(LIF(), X, checkpoint=0),
        "fused_spikes: checkpoint must be None or an int >= 1, got 0",
    ),
    (
        "fused-int",
        lambda: _fused_spikes(LIF(), torch.zeros(5, 2, dtype=torch.int64)),
        "fused_spikes: current must be float32 or float64, got torch.int64",
    ),
    (
        "fused-nan",
        lambda: _fused_spikes(LIF(), torch.full((5, 2), math.nan)),
        "fused_spikes: current contains NaN or infinite values",
    ),
    (
        "fused-numpy",
        lambda: _fused_spikes(LIF(), np.zeros((5, 2))),
        "fused_spikes: current must be a torch tensor (T, *batch), got ndarray",
    ),
    (
        "layer-backward",
        lambda: make_layer("lif", 4, backward="x"),
        "LIFLayer: unknown backward 'x'; choose one of ['autograd', 'exact', 'fused']",
    ),
    (
        "simulate-complex-tensor",
        lambda: simulate(LIF(), torch.zeros(5, 2, dtype=torch.complex64)),
        "simulate: current must be a floating tensor, got torch.complex64",
    ),
    (
        "simulate-object-array",
        lambda: simulate(LIF(), np.array([[1, "a"]], dtype=object)),
        "simulate: current must be a numeric array of shape (T, *batch)",
    ),
    (
        "simulate-bool-tensor",
        lambda: simulate(LIF(), torch.zeros(5, 2, dtype=torch.bool)),
        "simulate: current must be a floating tensor, got torch.bool",
    ),
    (
        "simulate-ragged",
        lambda: simulate(LIF(), [[1.0], [1.0, 2.0]]),
        "simulate: current must be a numeric array of shape (T, *batch)",
    ),
    (
        "check-writable-device",
        lambda: _fileio().check_writable("/dev/null/x", "results"),
        "cannot write results into /dev/null/x: /dev/null is a file",
    ),
    (
        "atomic-write-folder",
        lambda: _fileio().atomic_write("/tmp", "t"),
        "cannot write /tmp: a folder is in the way of the file",
    ),
    (
        "get-model-decimal-nan",
        lambda: get_model("lif", alpha=Decimal("NaN")),
        "LIF: parameter 'alpha' must be finite (got NaN or inf); allowed (0, 1]",
    ),
    (
        "get-model-bool",
        lambda: get_model("lif", alpha=True),
        "LIF: parameter 'alpha' must be a real number; a boolean is not a number here",
    ),
    ("get-model-int-name", lambda: get_model(3), "a model name must be a string, got 3"),
]


@pytest.mark.parametrize(
    "call, message", [c[1:] for c in FUNCTION_CASES], ids=[c[0] for c in FUNCTION_CASES]
)
def test_public_functions_refuse_with_the_exact_message(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


def test_valid_edge_inputs_give_the_right_answer():
    """Accepted inputs: a Decimal is a real number; an empty batch runs; the sub-threshold
    spectrum of tiny and huge couplings is exact (det J = 1: the eigenvalues are reciprocal)."""
    assert get_model("lif", alpha=Decimal("0.5")).alpha == 0.5
    assert simulate(LIF(), np.zeros((3, 0))).spikes.shape == (3, 0)
    rep = _st().inspect_model(LSTMLIF(beta1=-1e150, beta2=1e150), kmax=5)
    (a, _), (b, _) = rep["eigenvalues"]
    assert a == pytest.approx(-1e300, rel=1e-15) and b == pytest.approx(-1e-300, rel=1e-15)
    assert rep["det"] == 1.0
