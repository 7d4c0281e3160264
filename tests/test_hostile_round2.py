"""Hostile inputs, round two: answers that were silently wrong, runs without a size bound,
files deleted, tracebacks and vague errors. Each case ends in a correct answer, a warning or a
clear error whose exact words are asserted.

Classes (the counts are in the module-level ``CLASSES``): silent wrong answer, traceback,
size bound, data loss, vague error, weak test.
"""

from __future__ import annotations

import ast
import errno
import json
import math
import os
import shutil
import subprocess
import sys
import time
import warnings
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmlif import cli
from lstmlif.cli import BROKEN_PIPE_STATUS, main
from lstmlif.fileio import atomic_open, check_writable
from lstmlif.neurons import (
    LIF,
    LSTMLIF,
    TwoCompartment,
    exact_simulate,
    exact_spikes,
    get_model,
    make_layer,
    simulate,
)

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def _cli(*argv: str, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "lstmlif", *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )


# ============================================================== silent wrong answers: inspect


def test_inspect_determinant_and_eigenvalues_without_cancellation():
    """LSTM-LIF: J = [[1, b1], [b2, 1 + b1 b2]], det J = (1 + b1 b2) - b1 b2 = 1 exactly and
    tr J = 2 + b1 b2. At b1 = 1e200, b2 = 0.5 the eigenvalues are the roots of
    x^2 - (2 + 5e199) x + 1: 5e199 (to float64) and its reciprocal 2e-200 (product det = 1).
    Before: det J = 0 and eigenvalues 5e199 and 1.0."""
    from lstmlif.analysis.stability import inspect_model

    rep = inspect_model(LSTMLIF(beta1=1e200, beta2=0.5), kmax=10)
    assert rep["det"] == 1.0 and rep["exact"]
    assert rep["trace"] == 5e199
    (big, im0), (small, im1) = rep["eigenvalues"]
    assert im0 == 0 and im1 == 0
    assert big == pytest.approx(5e199, rel=1e-15)
    assert small == pytest.approx(2e-200, rel=1e-15)
    assert rep["jury"]["det_margin"] == 0.0  # 1 - |det| with det exactly 1
    assert rep["class"] == "growing"


def test_inspect_cli_prints_the_small_eigenvalue(capsys):
    assert main(["inspect", "lstmlif", "--param", "beta1=1e200"]) == 0
    out = capsys.readouterr().out
    assert "det J = 1, tr J = 5e+199" in out
    assert "eigenvalues: 5.000000e+199+0.000000i, 2.000000e-200+0.000000i" in out


def test_two_compartment_determinant_is_the_product_of_the_leaks():
    """Two compartments: J = [[a1, b1], [a1 b2, a2 + b1 b2]] (d first, then s from the new d),
    det J = a1 a2 exactly; at b1 = 1e200 the float entries lose a2 and the naive determinant
    is 0."""
    from lstmlif.analysis.stability import exact_spectrum, subthreshold_jacobian

    model = TwoCompartment(alpha1=0.5, alpha2=0.25, beta1=1e200, beta2=0.5)
    J = subthreshold_jacobian(model)
    assert J[0, 0] * J[1, 1] - J[0, 1] * J[1, 0] == 0.0  # what the float entries give
    spec = exact_spectrum(model)
    assert spec["det"] == 0.125
    lam = spec["eigenvalues"]
    assert lam[0].real * lam[1].real == pytest.approx(0.125, rel=1e-14)


@pytest.mark.parametrize("name", ["brf", "rf", "alif", "nir_cubalif", "se-adlif"])
def test_exact_spectrum_agrees_with_lapack_where_nothing_cancels(name):
    """At the registered defaults (entries of one magnitude) the exact path and LAPACK's
    eigenvalues and determinant agree to rounding: the exact path changes only what
    cancellation destroyed."""
    from lstmlif.analysis.stability import exact_spectrum, subthreshold_jacobian

    model = get_model(name)
    spec = exact_spectrum(model)
    J = subthreshold_jacobian(model)
    assert spec["det"] == pytest.approx(np.linalg.det(J), rel=1e-13, abs=1e-15)
    lam = np.linalg.eigvals(J)
    assert np.sort_complex(spec["eigenvalues"]) == pytest.approx(np.sort_complex(lam), abs=1e-13)


def test_inspect_refuses_a_repeated_parameter(capsys):
    """Before: ``--param alpha=0.5 --param alpha=0.6`` silently analysed 0.6."""
    assert main(["inspect", "lif", "--param", "alpha=0.5", "--param", "alpha=0.6"]) == 2
    assert capsys.readouterr().err == (
        "lstmlif inspect: error: --param alpha is given twice (0.5 and 0.6); give it once\n"
    )


# ============================================================== silent wrong answers: overflow

RHO = (2.81 + math.sqrt(2.81**2 - 4)) / 2  # larger root of x^2 - (2 + 0.9 * 0.9) x + 1
T_OVER = 3000


@pytest.fixture(scope="module")
def first_bad_step():
    """The first step at which the NumPy run's states are not finite (read off the trace,
    not off the warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = simulate(LSTMLIF(beta1=0.9, beta2=0.9), np.full((T_OVER, 2), 0.3))
    bad = ~np.isfinite(trace.states["s"][:, 0]) | ~np.isfinite(trace.states["d"][:, 0])
    return int(np.flatnonzero(bad)[0])


def _fused():
    pytest.importorskip("numba")
    from lstmlif.neurons.fused import fused_simulate, fused_spikes

    return fused_simulate, fused_spikes


def _runs(beta1=0.9, beta2=0.9):
    """Every path that runs a model, on LSTM-LIF(beta1, beta2) (default: one that overflows)."""
    m = LSTMLIF(beta1=beta1, beta2=beta2)

    def x(grad=False):
        return torch.full((T_OVER, 2), 0.3, dtype=torch.float64, requires_grad=grad)

    def layer(backward):
        lay = make_layer("lstmlif", 2, backward=backward, train=(), beta1=beta1, beta2=beta2)
        lay = lay.to(torch.float64)
        return lambda: lay(x()[:, None, :])

    return {
        "simulate": ("simulate", lambda: simulate(m, x())),
        "exact_simulate": ("exact_simulate", lambda: exact_simulate(m, x(True))),
        "exact_spikes": ("exact_spikes", lambda: exact_spikes(m, x())),
        "exact_spikes-grad": ("exact_spikes", lambda: exact_spikes(m, x(True))),
        "exact_spikes-checkpoint": (
            "exact_spikes",
            lambda: exact_spikes(m, x(True), checkpoint=64),
        ),
        "fused_spikes": ("fused_spikes", lambda: _fused()[1](m, x())),
        "fused_spikes-grad": ("fused_spikes", lambda: _fused()[1](m, x(True))),
        "fused_spikes-checkpoint": (
            "fused_spikes",
            lambda: _fused()[1](m, x(True), checkpoint=100),
        ),
        "fused_simulate": ("fused_simulate", lambda: _fused()[0](m, x(True))),
        "layer-autograd": ("simulate", layer("autograd")),
        "layer-exact": ("exact_spikes", layer("exact")),
        "layer-fused": ("fused_spikes", lambda: (_fused(), layer("fused")())[1]),
    }


@pytest.mark.parametrize("path", list(_runs()))
def test_every_path_warns_of_an_overflow_alike(path, first_bad_step):
    """One warning text on every path: the caller, the first non-finite step and rho.
    Before: exact_spikes, fused_spikes, fused_simulate and the fused layer were silent."""
    who, run = _runs()[path]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1, msgs
    assert msgs[0] == (
        f"{who}: LSTMLIF overflowed: state(s) ['d', 's'] are not finite from step "
        f"{first_bad_step} of {T_OVER} on (0-based); the sub-threshold map's spectral radius "
        f"is {RHO:.6g}; gradients through those steps are not meaningful"
    )
    assert caught[0].filename == __file__  # points at the caller, not at the kernels


def test_overflow_warning_points_at_the_user(first_bad_step):
    m = LSTMLIF(beta1=0.9, beta2=0.9)
    with pytest.warns(RuntimeWarning) as rec:
        exact_spikes(m, torch.full((T_OVER, 1), 0.3, dtype=torch.float64))
    assert rec[0].filename == __file__


@pytest.mark.parametrize("path", list(_runs()))
def test_no_overflow_warning_on_a_finite_run(path):
    """LSTM-LIF at its defaults (det J = 1, a complex pair on the unit circle) stays finite:
    the same paths as above, none warns."""
    defaults = LSTMLIF()
    _, run = _runs(defaults.beta1, defaults.beta2)[path]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run()


# ============================================================== tracebacks


def test_inspect_a_model_whose_parameter_requires_grad():
    """Before: "Can't call numpy() on Tensor that requires grad"."""
    from lstmlif.analysis.stability import inspect_model

    alpha = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    rep = inspect_model(LIF(alpha=alpha), kmax=10)
    assert rep["params"]["alpha"] == 0.8 and rep["eigenvalues"] == [[0.8, 0.0]]
    assert alpha.requires_grad and alpha.grad is None  # the caller's tensor is untouched


@pytest.mark.parametrize(
    "make,layout",
    [
        (lambda: torch.eye(3, dtype=torch.float64).to_sparse(), "torch.sparse_coo"),
        (lambda: torch.eye(3, dtype=torch.float64).to_sparse_csr(), "torch.sparse_csr"),
    ],
)
@pytest.mark.parametrize("who", ["simulate", "exact_spikes", "exact_simulate", "fused_spikes"])
def test_sparse_currents_are_refused_by_layout(make, layout, who):
    """Before: a torch error from inside the step."""
    funcs = {"simulate": simulate, "exact_spikes": exact_spikes, "exact_simulate": exact_simulate}
    if who == "fused_spikes":
        funcs[who] = _fused()[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "sparse CSR is in beta"
        x = make()
    with pytest.raises(ValueError) as info:
        funcs[who](LIF(), x)
    assert str(info.value) == (
        f"{who}: current must be a dense tensor, got layout {layout}; pass current.to_dense()"
    )


def test_meta_tensors_are_refused():
    with pytest.raises(ValueError, match="^simulate: current is on the meta device"):
        simulate(LIF(), torch.empty(3, 2, device="meta"))


def test_fractions_are_real_numbers():
    """Before: get_model('lif', alpha=Fraction(4, 5)) was refused as "not a real number"."""
    assert get_model("lif", alpha=Fraction(4, 5)).alpha == 0.8
    assert get_model("lstmlif", beta1=Fraction(-1, 2)).beta1 == -0.5
    with pytest.raises(ValueError, match=r"'alpha' must lie in \(0, 1\], got 1.5"):
        get_model("lif", alpha=Fraction(3, 2))
    with pytest.raises(ValueError) as info:
        get_model("lif", tau_m=10**400)  # an int float64 cannot hold: not an OverflowError
    assert str(info.value) == (
        "LIF: parameter 'tau_m' must be a real number; got int beyond float64's range "
        "(|value| > 1.8e308)"
    )
    # per-neuron values as object arrays: Decimals like Fractions (a scalar Decimal was
    # accepted, an array of them refused), and an element beyond float64 a ValueError too
    halves = np.array([Fraction(1, 2), Decimal("0.25")], dtype=object)
    assert get_model("lif", alpha=halves).alpha.tolist() == [0.5, 0.25]
    with pytest.raises(ValueError) as info:
        get_model("lif", tau_m=np.array([Fraction(10**400), 1], dtype=object))
    assert str(info.value) == (
        "LIF: parameter 'tau_m' must be a real number; got an array element beyond float64's "
        "range (|value| > 1.8e308)"
    )


# ============================================================== size bounds


def test_simulate_refuses_a_graph_beyond_the_memory_limit(monkeypatch):
    """LSTM-LIF adds 11 autograd nodes a step; 10^6 steps at one neuron need about
    10^6 x 11 x (1536 + 8) bytes = 15.8 GiB. Before: RSS grew past 16 GB."""
    monkeypatch.setenv("LSTMLIF_MEMORY_LIMIT", "4G")
    x = torch.full((10**6, 1), 0.3, dtype=torch.float64, requires_grad=True)
    t0 = time.perf_counter()
    with pytest.raises(MemoryError) as info:
        simulate(LSTMLIF(), x)
    assert time.perf_counter() - t0 < 10  # refused before the work, not after
    assert str(info.value) == (
        "simulate: the autograd graph of 1000000 steps x 1 neurons needs about 15.8 GiB (an "
        "estimate), more than the limit of 4 GiB (set by LSTMLIF_MEMORY_LIMIT); exact_simulate "
        "or exact_spikes (the adjoint, no per-step graph) or fused_spikes need only the states, "
        "or run shorter sequences"
    )


def test_graph_estimate_counts_the_nodes_of_one_step():
    """The estimate's node count against a census of the graph of a run of T = 5 and T = 4
    steps made here (each LSTM-LIF step: the spike, its surrogate, the reset and the leaky
    updates)."""
    from lstmlif.neurons.simulate import graph_nodes_per_step

    def census(T):
        x = torch.zeros((T, 1), dtype=torch.float64, requires_grad=True)
        tr = simulate(LSTMLIF(), x)
        seen, stack = set(), [tr.spikes.grad_fn, tr.states["d"].grad_fn, tr.states["s"].grad_fn]
        while stack:
            node = stack.pop()
            if node is not None and node not in seen:
                seen.add(node)
                stack.extend(n for n, _ in node.next_functions)
        return len(seen)

    assert graph_nodes_per_step(LSTMLIF()) == census(5) - census(4)
    # counted by hand from LIF's step (paper convention, subtract reset): r = v_th S (mul),
    # alpha v (mul), - r (sub), + I (add), v - v_th (sub) and the spike: 6 nodes
    assert graph_nodes_per_step(LIF()) == 6


def test_memory_limit_setting_is_checked(monkeypatch):
    from lstmlif.neurons.simulate import memory_limit

    monkeypatch.setenv("LSTMLIF_MEMORY_LIMIT", "512M")
    assert memory_limit() == (512 * 2**20, "set by LSTMLIF_MEMORY_LIMIT")
    monkeypatch.setenv("LSTMLIF_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="LSTMLIF_MEMORY_LIMIT='lots' is not a size"):
        memory_limit()
    monkeypatch.setenv("LSTMLIF_MEMORY_LIMIT", "-1G")
    with pytest.raises(ValueError, match="must be a positive size"):
        memory_limit()


def test_verify_estimates_memory_before_the_first_case(monkeypatch, capsys):
    """LIF adds 6 nodes a step; 5e6 steps: 5e6 x 6 x 1544 B + 8 x 8 x 5e6 x 2 B = 43.7 GiB.
    Before: inside verify's steps x batch limit, RSS past 16 GB or std::bad_alloc."""
    import lstmlif.analysis.gradcheck as gradcheck

    monkeypatch.setenv("LSTMLIF_MEMORY_LIMIT", "4G")
    monkeypatch.setattr(gradcheck, "check_case", lambda *a, **k: pytest.fail("a case ran"))
    assert main(["verify", "--models", "lif", "--steps", "5000000", "--batch", "1", "--no-fd"]) == 2
    assert capsys.readouterr().err == (
        "lstmlif verify: error: verify: one case of 5000000 steps x 1 neurons needs about "
        "43.7 GiB (an estimate), more than the limit of 4 GiB (set by LSTMLIF_MEMORY_LIMIT); "
        "lower --steps or --batch\n"
    )


def test_verify_announces_a_long_run(monkeypatch, capsys):
    import lstmlif.analysis.gradcheck as gradcheck

    monkeypatch.setattr(gradcheck, "_rows", lambda *a: iter(()))
    assert main(["verify", "--models", "lstmlif", "--steps", "100000", "--batch", "1"]) == 0
    err = capsys.readouterr().err
    cases = len(gradcheck.switch_sets("lstmlif"))
    assert err.startswith(f"lstmlif verify: {cases} cases of 100000 steps x 1 neurons: about ")
    assert err.endswith(" GiB a case (rough estimates)\n")


# ============================================================== data loss: the figure writer


def test_publish_removes_only_files_of_its_own_manifest(tmp_path):
    """Before: every ``NAME.*`` file not in the new set was deleted, a user's included."""
    from lstmlif.figures.files import complete_set, publish_set

    out = tmp_path / "out"
    out.mkdir()
    mine = {"membrane_traces.notes.txt": b"my notes", "membrane_traces.svg": b"<svg/>"}
    for name, data in mine.items():
        (out / name).write_bytes(data)

    def stage(names):
        folder = tmp_path / f"stage{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        for n in names:
            (folder / n).write_bytes(n.encode())
        return [folder / n for n in names]

    publish_set(out, "membrane_traces", stage(["membrane_traces.png", "membrane_traces.csv"]))
    publish_set(out, "membrane_traces", stage(["membrane_traces.png"]))
    # the old set's csv goes (the manifest recorded it); the user's files stay byte for byte
    assert sorted(p.name for p in out.iterdir()) == [
        ".membrane_traces.set",
        "membrane_traces.notes.txt",
        "membrane_traces.png",
        "membrane_traces.svg",
    ]
    for name, data in mine.items():
        assert (out / name).read_bytes() == data
    assert complete_set(out, "membrane_traces") == ["membrane_traces.png"]


def test_a_manifest_cannot_delete_outside_its_figure(tmp_path):
    """A manifest is data: a recorded name that is a path, or another figure's, is not
    removed."""
    from lstmlif.figures.files import publish_set

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "victim").write_text("keep")
    (out / "other.png").write_text("keep")
    record = {"../victim": [4, "x"], "other.png": [4, "x"]}
    (out / ".fig.set").write_text(json.dumps({"figure": "fig", "files": record}))
    staged = tmp_path / "s" / "fig.png"
    staged.parent.mkdir()
    staged.write_bytes(b"png")
    publish_set(out, "fig", [staged])
    assert (tmp_path / "victim").read_text() == "keep" and (out / "other.png").exists()


def test_figures_command_keeps_the_users_files(tmp_path, capsys):
    out = tmp_path / "D"
    out.mkdir()
    (out / "membrane_traces.notes.txt").write_text("mine")
    (out / "membrane_traces.svg").write_text("<svg/>")
    assert main(["figures", "--only", "membrane_traces", "--out", str(out)]) == 0
    assert (out / "membrane_traces.notes.txt").read_text() == "mine"
    assert (out / "membrane_traces.svg").read_text() == "<svg/>"
    assert (out / "membrane_traces.png").is_file()


def test_a_folder_at_a_figure_target_is_named(tmp_path, capsys):
    """Before: the error named the hidden staging folder's file."""
    out = tmp_path / "E"
    (out / "membrane_traces.png").mkdir(parents=True)
    assert main(["figures", "--only", "membrane_traces", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"lstmlif figures: error: cannot write figure file {out / 'membrane_traces.png'}: it "
        "is a folder; move it away or choose another --out\n"
    )
    assert sorted(p.name for p in out.iterdir()) == ["membrane_traces.png"]  # nothing staged


# ============================================================== vague errors: files and streams


def test_dangling_output_link_is_named(tmp_path, capsys):
    """Before: "File exists"."""
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "nowhere")
    assert main(["figures", "--only", "membrane_traces", "--out", str(link)]) == 2
    assert capsys.readouterr().err == (
        f"lstmlif figures: error: cannot write figures into {link}: {link} is a symbolic link "
        f"to {tmp_path / 'nowhere'}, which does not exist (a dangling link)\n"
    )
    with pytest.raises(ValueError, match="dangling link"):
        check_writable(link / "sub", "results")


def test_a_full_disk_names_the_file_not_the_temporary(tmp_path, monkeypatch):
    """A write that fails without a file name (ENOSPC from write()) is raised naming the
    target; no temporary file is left."""
    target = tmp_path / "x.json"
    real_fdopen = os.fdopen

    def full(fd, *args, **kwargs):
        fh = real_fdopen(fd, *args, **kwargs)

        def write(_):
            raise OSError(errno.ENOSPC, "No space left on device")

        fh.write = write
        return fh

    monkeypatch.setattr(os, "fdopen", full)
    with pytest.raises(OSError) as info:
        with atomic_open(target, "w") as fh:
            fh.write("{}")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


def _stdout_error(*args: object) -> OSError:
    """An OSError raised while writing the standard output (as ``main`` marks it)."""
    err = OSError(*args)
    err.lstmlif_stream = "standard output"
    return err


@pytest.mark.parametrize(
    "exc,line",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "error: No space left on device"),
        (
            _stdout_error(errno.ENOSPC, "No space left on device"),
            "error: standard output: No space left on device",
        ),
        # no reason at all: the error's kind, not an empty line end
        (_stdout_error(), "error: standard output: OSError"),
        (
            OSError(errno.ENOSPC, "No space left on device", "/d/x.png"),
            "error: /d/x.png: No space left on device",
        ),
        (
            OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"),
            "error: /a -> /b: Invalid cross-device link",
        ),
    ],
)
def test_oserror_lines_have_one_colon_each(monkeypatch, capsys, exc, line):
    """Before: "error:: No space left on device" (an empty file name and a doubled colon)."""
    from lstmlif.analysis import stability

    def explode(args):
        raise exc

    monkeypatch.setattr(stability, "run", explode)
    monkeypatch.setattr(cli, "_quiet_stdout", lambda: None)  # keep pytest's own output
    assert main(["inspect", "lif"]) == 2
    assert capsys.readouterr().err == f"lstmlif inspect: {line}\n"


def test_full_standard_output_is_named():
    """``lstmlif derive lstmlif > /dev/full``: before, "error:: No space left on device"."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        done = _cli("derive", "lstmlif", stdout=full)
    assert done.returncode == 2
    assert done.stderr == "lstmlif derive: error: standard output: No space left on device\n"


def test_a_broken_pipe_ends_quietly():
    """``lstmlif derive lstmlif | head -0``: the reader is gone before the first write.
    Before: exit 2 and "error:: Broken pipe". Now: no message, exit 141 (128 + SIGPIPE, what
    a shell reports for ``seq`` or ``cat`` in the same place)."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "lstmlif", "derive", "lstmlif"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader goes away at once
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == BROKEN_PIPE_STATUS == 141
    assert err == ""


# ============================================================== weak tests: a real read-only place


def _read_only_runner() -> list[str] | None:
    """A command prefix that runs its command in a private mount namespace (``unshare -m``, or
    ``unshare -rm`` as an unprivileged user) where a read-only tmpfs can be mounted; None
    with the reason printed where neither works."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return None
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        probe = subprocess.run(
            [*prefix, "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt && ! touch /mnt/x"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0:
            return prefix
    return None


def test_a_read_only_file_system_is_refused_even_for_root(tmp_path):
    """A read-only tmpfs mounted in a private mount namespace: nobody may write there, root
    included (the chmod-based branch of the old test skipped as root, and CI runs as root)."""
    prefix = _read_only_runner()
    if prefix is None:
        pytest.skip(
            "cannot mount a read-only tmpfs here (no unshare/mount, or neither CAP_SYS_ADMIN "
            "nor unprivileged user namespaces): the read-only case needs one"
        )
    ro = tmp_path / "ro"
    ro.mkdir()
    script = (
        f"mount -t tmpfs -o ro tmpfs {ro} && "
        f"{PYTHON} -m lstmlif figures --only membrane_traces --out {ro}/figs; echo rc=$?; "
        f"{PYTHON} -m lstmlif experiment recall --quick --no-progress --out {ro}/res; echo rc=$?"
    )
    done = subprocess.run(
        [*prefix, "sh", "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.stdout.split() == ["rc=2", "rc=2"], done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"lstmlif figures: error: cannot write figures into {ro}/figs: Read-only file system",
        f"lstmlif experiment: error: cannot write results into {ro}/res/recall_quick: "
        "Read-only file system",
    ]


def test_a_full_file_system_names_the_figure_file(tmp_path):
    """A 64 KiB tmpfs: the first figure file that does not fit is named (its place in the
    output folder, not the staging folder), and no staging folder or temporary is left."""
    prefix = _read_only_runner()
    if prefix is None:
        pytest.skip("cannot mount a small tmpfs here (see the read-only test)")
    full = tmp_path / "full"
    full.mkdir()
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {full} && "
        f"{PYTHON} -m lstmlif figures --only membrane_traces --out {full}; echo rc=$?; ls -A {full}"
    )
    done = subprocess.run(
        [*prefix, "sh", "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.stdout.split() == ["rc=2"], done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    start = f"lstmlif figures: error: {full}/membrane_traces."
    assert lines[0].startswith(start) and lines[0].endswith(": No space left on device")
    assert lines[0][len(start) :].split(":")[0] in ("png", "pdf", "npz")


# ============================================================== layout: no import circle


@pytest.mark.parametrize(
    "lower,users",
    [
        ("neurons/fused_kernels.py", {"fused", "fused_cuda"}),
        ("neurons/fused_cuda.py", {"fused"}),
    ],
)
def test_lower_modules_do_not_import_their_users(lower, users):
    """neurons.fused dispatches to neurons.fused_cuda; both use neurons.fused_kernels; no
    module imports one that imports it (issue: the fused <-> fused_cuda circle)."""
    tree = ast.parse((ROOT / lower).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                imported.add(node.module.split(".")[0])
            if node.level == 1 and not node.module:
                imported |= {a.name for a in node.names}
            if node.module and node.module.startswith("lstmlif.neurons."):
                imported.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            imported |= {a.name.split(".")[2] for a in node.names if a.name.count(".") >= 2}
    assert not (imported & users), f"{lower} imports {imported & users}"
