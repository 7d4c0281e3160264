"""Figures: the framework (discovery, CLI, atomic writes, index) and each figure's numbers at
reduced sizes, checked against closed forms and hand recursions rather than against the code that
produced them."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from lstmlif.figures import (
    fig_eigenvalues,
    fig_gradient_distance,
    fig_gradient_maps,
    fig_membrane_traces,
    fig_paper_matrix,
    fig_spiking_flow,
    fig_stability_atlas,
    fig_stability_map,
)
from lstmlif.figures.files import atomic_open, save_csv
from lstmlif.figures.registry import discover, make_figures, select, write_index

OURS = {
    "gradient_distance",
    "spiking_flow",
    "gradient_maps",
    "stability_map",
    "stability_atlas",
    "eigenvalues",
    "membrane_traces",
    "paper_matrix",
}


# ----------------------------------------------------------------------------- framework


def test_discovery_finds_every_figure_module_with_a_caption():
    specs = discover()
    assert OURS <= set(specs)
    for spec in specs.values():
        assert spec.caption and "\n" not in spec.caption
    orders = [s.order for s in specs.values()]
    assert orders == sorted(orders)


def test_unknown_figure_names_are_rejected_with_the_known_names():
    with pytest.raises(ValueError, match="membrane_traces") as err:
        select(["membrane_traces", "no_such_figure"])
    assert "no_such_figure" in str(err.value)


def test_cli_makes_one_figure_with_json_and_an_index(tmp_path, capsys):
    from lstmlif.cli import main

    out = tmp_path / "out"
    assert main(["figures", "--only", "membrane_traces", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    paths = report["membrane_traces"]["paths"]
    assert {p.rsplit(".", 1)[1] for p in paths} == {"png", "pdf", "npz"}
    for p in paths:
        assert (out / p.rsplit("/", 1)[1]).stat().st_size > 0
    assert (out / "membrane_traces.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "membrane_traces.pdf").read_bytes()[:5] == b"%PDF-"
    index = (out / "index.md").read_text()
    assert "**membrane_traces**" in index and "[png](membrane_traces.png)" in index
    assert "gradient_maps" not in index  # only figures present in the folder are listed
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert hidden == [".membrane_traces.set"]  # the set's manifest; no temporary file
    umask = os.umask(0)
    os.umask(umask)
    for p in out.iterdir():  # the usual permissions, not mkstemp's 0600
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask


def test_cli_rejects_an_unknown_name_with_exit_status_2(tmp_path, capsys):
    from lstmlif.cli import main

    assert main(["figures", "--only", "bogus", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err and "gradient_distance" in err
    (tmp_path / "a_file").write_text("")
    out = str(tmp_path / "a_file" / "figs")
    assert main(["figures", "--only", "eigenvalues", "--out", out]) == 2
    assert "is a file" in capsys.readouterr().err


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    save_csv(tmp_path, "table", ["a"], [[1.0]])
    before = target.read_text()
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as fh:
            fh.write("half a fi")
            raise RuntimeError("interrupted")
    assert target.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_make_writes_the_data_it_returns(tmp_path):
    (spec,) = select(["eigenvalues"])
    result = spec.make(tmp_path, n=21)
    assert result["paths"] == [tmp_path / f"eigenvalues.{x}" for x in ("png", "pdf", "npz")]
    saved = np.load(tmp_path / "eigenvalues.npz")
    np.testing.assert_array_equal(saved["lstmlif"], result["data"]["lstmlif"])
    write_index(tmp_path)
    assert "**eigenvalues**" in (tmp_path / "index.md").read_text()
    # a run killed between two renames: a new PNG beside the old PDF is not a complete set
    (tmp_path / "eigenvalues.png").write_bytes(b"\x89PNG\r\n\x1a\n another run")
    write_index(tmp_path)
    assert "eigenvalues" not in (tmp_path / "index.md").read_text()
    # a module's make() called directly (no published set) is not listed either
    fig_membrane_traces.make(tmp_path)
    write_index(tmp_path)
    assert "membrane_traces" not in (tmp_path / "index.md").read_text()


def test_killed_runs_leave_no_temporaries_and_unwritable_folders_are_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".eigenvalues.png.abc.tmp").write_bytes(b"half")  # atomic_open's temporary
    dead = out / ".staging-eigenvalues-999999999-x"  # a staging folder of a process that is gone
    dead.mkdir()
    (dead / "eigenvalues.png").write_bytes(b"half")
    make_figures(only=["membrane_traces"], out_dir=out, progress=False)
    names = sorted(p.name for p in out.iterdir())
    assert names == [".membrane_traces.set", "index.md"] + [
        f"membrane_traces.{x}" for x in ("npz", "pdf", "png")
    ]
    with pytest.raises(ValueError, match="figures folder name is empty"):
        make_figures(only=["membrane_traces"], out_dir="", progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        make_figures(only=["membrane_traces"], out_dir=tmp_path / "file" / "sub", progress=False)
    # a folder nobody may create (even root): refused before any figure is computed
    with pytest.raises(ValueError, match="cannot write figures into /proc/lstmlif-figures"):
        make_figures(only=["membrane_traces"], out_dir="/proc/lstmlif-figures", progress=False)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root may write anyway; others must be refused
            with pytest.raises(ValueError, match="cannot write figures into .*locked"):
                make_figures(only=["membrane_traces"], out_dir=locked, progress=False)
    finally:
        locked.chmod(0o700)


# ----------------------------------------------------------------------------- figure 1


@pytest.fixture(scope="module")
def distance():
    return fig_gradient_distance.compute(kmax=10000)


def test_lif_and_alif_slopes_are_log10_of_the_leak(distance):
    for key, per_step in (
        ("lif_0.8", math.log10(0.8)),
        ("lif_tau20", -1 / (20 * math.log(10))),
        ("alif_tau_a200/membrane", -1 / (20 * math.log(10))),
        ("alif_tau_a200/adaptation", -1 / (200 * math.log(10))),
        ("alif_tau_a700/adaptation", -1 / (700 * math.log(10))),
    ):
        curve = distance[f"{key}/computed"]
        np.testing.assert_allclose(np.diff(curve), per_step, rtol=0, atol=1e-9)
        assert curve[0] == pytest.approx(per_step, abs=1e-12)
    assert distance["lif_0.8/computed"][-1] == pytest.approx(10000 * math.log10(0.8), abs=1e-9)


def test_lstmlif_curves_stay_within_the_closed_form_bounds_for_all_k(distance):
    logs = distance["lstmlif/computed"]  # (10000, 4)
    assert logs.shape == (10000, 4)
    for i, (b1, b2) in enumerate(distance["lstmlif/betas"]):
        # det J = 1 -> sigma_max >= 1; entries bounded by 1/cos(theta/2) and |beta|/sin(theta).
        theta = math.acos(1 + b1 * b2 / 2)
        bound = math.sqrt(2 / math.cos(theta / 2) ** 2 + (b1**2 + b2**2) / math.sin(theta) ** 2)
        assert np.all(logs[:, i] >= -1e-12)
        assert np.all(logs[:, i] <= math.log10(bound) + 1e-12)
        assert logs[:, i].max() > 0.05  # not trivially flat
    np.testing.assert_allclose(logs, distance["lstmlif/closed"], rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------- figure 2


@pytest.fixture(scope="module")
def spiking():
    return fig_spiking_flow.compute(T=240, batch=48, kmax=200, seed=2)


def test_detached_lif_trajectories_follow_alpha_to_the_k_exactly(spiking):
    k = spiking["k"]
    for conv in ("paper", "code"):
        band = spiking[f"lif/conventions/{conv}, detached/band"]
        assert float(spiking[f"lif/conventions/{conv}, detached/rate"]) > 0.02
        np.testing.assert_allclose(
            band, np.broadcast_to(k * math.log10(0.8), band.shape), rtol=0, atol=1e-9
        )


def test_detached_lstmlif_trajectories_follow_the_subthreshold_product(spiking):
    sub = spiking["lstmlif/subthreshold"]
    for conv in ("paper", "code"):
        band = spiking[f"lstmlif/conventions/{conv}, detached/band"]
        assert float(spiking[f"lstmlif/conventions/{conv}, detached/rate"]) > 0.02
        np.testing.assert_allclose(band, np.broadcast_to(sub, band.shape), rtol=0, atol=1e-9)


def test_lif_reset_gradient_can_only_shrink_the_product(spiking):
    # |alpha - psi| <= alpha and |alpha (1 - psi)| <= alpha for psi in [0, 1] (triangle, v_th = 1).
    sub = spiking["lif/subthreshold"]
    for conv in ("paper", "code"):
        lo, med, hi = spiking[f"lif/conventions/{conv}/band"]
        assert np.all(hi <= sub + 1e-9)
        assert med[-1] < sub[-1] - 1.0  # the spikes visibly shorten the reach


# ----------------------------------------------------------------------------- figure 3


def test_gradient_maps_are_normalised_and_the_shares_add_up():
    data = fig_gradient_maps.compute(batch=8, side=8, sizes=(1, 8, 16, 16, 10), seed=0)
    for model in ("lif", "alif", "lstmlif"):
        assert float(data[f"{model}/layer1/rate"]) > 0
        for layer, n in ((1, 8), (2, 16), (3, 16)):
            G = data[f"{model}/layer{layer}/map"].astype(np.float64)
            assert G.shape == (64, n) and np.all(G >= 0)
            assert G.sum() == pytest.approx(1.0, abs=1e-6)
            share = float(data[f"{model}/layer{layer}/first_half"])
            assert share == pytest.approx(G[:32].sum(), abs=1e-6)
            assert 0 < share < 1


# ----------------------------------------------------------------------------- figure 4


@pytest.fixture(scope="module")
def smap():
    return fig_stability_map.compute(n=40, scale=16, sup_kmax=64)


def test_marginal_region_is_exactly_the_product_band(smap):
    b = smap["beta"]
    B1, B2 = np.meshgrid(b, b, indexing="xy")
    prod = B1 * B2  # exact: multiples of 1/256
    inside = (prod >= -4) & (prod <= 0)
    assert np.array_equal(smap["label"] == "marginal", inside)
    assert np.array_equal(smap["label"] == "growing", ~inside)
    np.testing.assert_allclose(smap["rho"][inside], 1.0, rtol=0, atol=1e-7)
    # Outside: the larger root of lambda^2 - (2 + p) lambda + 1.
    p = prod[~inside]
    big = (np.abs(2 + p) + np.sqrt(p * (p + 4))) / 2
    np.testing.assert_allclose(smap["rho"][~inside], big, rtol=1e-12)


def test_period_and_symbolic_boundaries(smap):
    b = smap["beta"]
    B1, B2 = np.meshgrid(b, b, indexing="xy")
    prod = B1 * B2
    cplx = (prod > -4) & (prod < 0)
    expected = 2 * np.pi / np.arccos(1 + prod[cplx] / 2)
    np.testing.assert_allclose(smap["period"][cplx], expected, rtol=1e-9)
    assert np.all(np.isnan(smap["period"][~cplx & (prod != 0)]))
    x = smap["boundary_beta1"]
    roots = [smap[f"boundary{i}/beta2"] for i in range(2)]
    zero = [r for r in roots if np.all(r == 0)]
    hyper = [r for r in roots if not np.all(r == 0)]
    assert len(zero) == 1 and len(hyper) == 1
    np.testing.assert_allclose(hyper[0], -4 / x, rtol=1e-14)
    assert str(smap["discriminant"]) in ("beta1*beta2*(beta1*beta2 + 4)",)


def test_sup_norm_is_finite_only_where_bounded(smap):
    sup = smap["log10_sup"]
    marginal = smap["label"] == "marginal"
    assert np.all(np.isfinite(sup[marginal])) and np.all(sup[marginal] >= -1e-12)
    assert np.all(np.isnan(sup[~marginal]))


# ----------------------------------------------------------------------------- figure 5


def test_atlas_regions_agree_with_eigenvalues_of_the_hand_written_matrix():
    data = fig_stability_atlas.compute(n_alpha=25, n_tau=15)
    alpha = data["alpha"]
    assert alpha[-1] == 1.0
    for i, (b1, b2) in enumerate(data["couplings"]):
        labels = data[f"c{i}/label"]
        for r, a2 in enumerate(alpha):
            for c, a1 in enumerate(alpha):
                J = np.array([[a1, b1], [a1 * b2, a2 + b1 * b2]])
                lam = np.linalg.eigvals(J)
                rho = np.max(np.abs(lam))
                assert data[f"c{i}/rho"][r, c] == pytest.approx(rho, rel=1e-12)
                if rho > 1 + 1e-9:
                    assert labels[r, c] == "growing"
                elif rho < 1 - 1e-9:
                    want = "oscillating-decaying" if np.any(lam.imag != 0) else "decaying"
                    assert labels[r, c] == want
                else:
                    assert labels[r, c] == "marginal"
    tau = data["tau"]
    TM, TA = np.meshgrid(tau, tau, indexing="xy")
    np.testing.assert_allclose(data["alif_horizon"], np.maximum(TM, TA), rtol=1e-9)


# ----------------------------------------------------------------------------- figure 6


def test_eigenvalue_paths():
    data = fig_eigenvalues.compute(n=101)
    p = data["product"]
    lam = data["lstmlif"]
    band = (p >= -4) & (p <= 0)
    np.testing.assert_allclose(np.abs(lam[band]), 1.0, atol=1e-7)
    np.testing.assert_allclose(lam[:, 0] * lam[:, 1], 1.0, atol=1e-12)  # det J = 1
    pos = p > 0
    np.testing.assert_allclose(lam[pos, 0], (2 + p[pos] + np.sqrt(p[pos] * (p[pos] + 4))) / 2)
    neg = p < -4
    assert np.all(lam[neg].imag == 0) and np.all(lam[neg, 0].real < -1)
    np.testing.assert_allclose(data["lif"], [0.8, math.exp(-1 / 20)], rtol=1e-14)
    for v, lab in zip(data["alif"], data["alif_labels"], strict=True):
        tau = 20.0 if "membrane" in lab else float(lab.split("= ")[-1].rstrip(")"))
        assert v == pytest.approx(math.exp(-1 / tau), rel=1e-14)
    np.testing.assert_allclose(np.abs(data["leaky"][(p > -3.5) & (p < -0.5)]), 0.95, rtol=1e-9)


# ----------------------------------------------------------------------------- figure 7


def _hand_lif(I, convention):
    v, S, vs, Ss = 0.0, 0.0, [], []
    for x in I:
        v = 0.8 * v + x - S if convention == "paper" else 0.8 * (v - S) + x
        S = float(v >= 1.0)
        vs.append(v)
        Ss.append(S)
    return np.array(vs), np.array(Ss)


def _hand_lstmlif(I, convention, b1=-0.5, b2=0.5, g=0.5):
    d = s = S = 0.0
    out = []
    for x in I:
        if convention == "paper":
            d = d + b1 * s + x - g * S
            s = s + b2 * d - S
        else:
            d, s = d - g * S, s - S
            d = d + b1 * s + x
            s = s + b2 * d
        S = float(s >= 1.0)
        out.append((d, s, S))
    return np.array(out).T


def test_membrane_traces_match_hand_recursions():
    data = fig_membrane_traces.compute(T=60)
    for kind in ("step", "pulse"):
        I = data[f"{kind}/I"]
        for conv in ("paper", "code"):
            v, S = _hand_lif(I, conv)
            np.testing.assert_allclose(data[f"{kind}/lif/{conv}/v"], v, atol=1e-12)
            np.testing.assert_array_equal(data[f"{kind}/lif/{conv}/S"], S)
            d, s, S2 = _hand_lstmlif(I, conv)
            np.testing.assert_allclose(data[f"{kind}/lstmlif/{conv}/d"], d, atol=1e-12)
            np.testing.assert_allclose(data[f"{kind}/lstmlif/{conv}/s"], s, atol=1e-12)
            np.testing.assert_array_equal(data[f"{kind}/lstmlif/{conv}/S"], S2)
            assert S.sum() >= 1 and S2.sum() >= 1
    # The pulse keeps LSTM-LIF ringing long after its spike; LIF has decayed to ~0.
    assert np.ptp(data["pulse/lstmlif/paper/s"][30:]) > 0.3
    assert np.ptp(data["pulse/lif/paper/v"][30:]) < 1e-3


# ----------------------------------------------------------------------------- figure 8


def test_paper_matrix_powers_and_spectra():
    data = fig_paper_matrix.compute(kmax=30, n=41)
    for i, (b1, b2) in enumerate(data["betas"]):
        P = np.array([[1 + b1 * b2, b1], [2 * b2 + b1 * b2**2, 1 + b1 * b2]])
        J = np.array([[1, b1], [b2, 1 + b1 * b2]])
        for k in (1, 7, 30):
            nP = np.linalg.norm(np.linalg.matrix_power(P, k), 2)
            nJ = np.linalg.norm(np.linalg.matrix_power(J, k), 2)
            assert data["P_log10"][k - 1, i] == pytest.approx(math.log10(nP), abs=1e-10)
            assert data["J_log10"][k - 1, i] == pytest.approx(math.log10(nJ), abs=1e-10)
    B1, B2 = np.meshgrid(data["b1"], data["b2"], indexing="xy")
    prod = B1 * B2
    # tr P = 2 + 2 b1 b2 and det P = 1: |lambda| = 1 iff -2 <= b1 b2 <= 0; J: iff b1 b2 >= -4.
    np.testing.assert_allclose(data["rho_P"][prod > -2 + 1e-9], 1.0, atol=1e-6)
    assert np.all(data["rho_P"][prod < -2 - 1e-9] > 1)
    np.testing.assert_allclose(data["rho_J"][prod > -4 + 1e-9], 1.0, atol=1e-6)
    np.testing.assert_allclose(data["f"], B1 * B2**2 + B1 * B2 + 2 * B2 + 1, rtol=1e-14)


# ----------------------------------------------------------------------------- style (issue 14)


def test_gradient_maps_both_readouts_and_the_last_step_reveals_lif_vanishing():
    data = fig_gradient_maps.compute_both(batch=8, side=8, sizes=(1, 8, 16, 16, 10), seed=0)
    assert list(data["readouts"]) == ["sum", "last"]
    for pre in ("", "last/"):
        for model in ("lif", "alif", "lstmlif"):
            for layer in (1, 2, 3):
                G = data[f"{pre}{model}/layer{layer}/map"].astype(np.float64)
                assert G.shape[0] == 64 and G.sum() == pytest.approx(1.0, abs=1e-6)
    # the summed readout feeds every step directly: LIF's share of the first half is one half,
    # as if nothing vanished
    for layer in (1, 2, 3):
        assert float(data[f"lif/layer{layer}/first_half"]) == pytest.approx(0.5, abs=0.02)
    # scoring the last step only, LIF's first-half share collapses (alpha = 0.8 per step over
    # >= 32 steps: 0.8^32 = 8e-4) while LSTM-LIF keeps far more
    lif = float(data["last/lif/layer1/first_half"])
    lstm = float(data["last/lstmlif/layer1/first_half"])
    assert lif < 0.8**32 * 10 and lstm > 100 * lif
    fig = fig_gradient_maps.plot(data)
    assert len(fig.axes) >= 6 * 4  # 6 rows (3 models x 2 readouts) of 4 panels (+ colour bars)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "(summed)" in titles and "(last step)" in titles


def test_the_envelope_of_panel_d_holds_every_step(distance):
    values = distance["lstmlif/computed"]
    start, lo, hi = fig_gradient_distance.envelope(values, 50)
    assert len(start) == 200 and start[0] == 1 and start[-1] == 9951
    for b in (0, 57, 199):
        chunk = values[50 * b : 50 * (b + 1)]
        np.testing.assert_array_equal(lo[b], chunk.min(axis=0))
        np.testing.assert_array_equal(hi[b], chunk.max(axis=0))
    assert np.all(lo <= hi) and hi.max() == values.max() and lo.min() == values.min()
    with pytest.raises(ValueError, match="width"):
        fig_gradient_distance.envelope(values[:10], 50)


def _small_figures():
    return {
        "gradient_distance": fig_gradient_distance.plot(fig_gradient_distance.compute(kmax=400)),
        "eigenvalues": fig_eigenvalues.plot(fig_eigenvalues.compute(n=101)),
        "membrane_traces": fig_membrane_traces.plot(fig_membrane_traces.compute(T=60)),
        "paper_matrix": fig_paper_matrix.plot(fig_paper_matrix.compute(kmax=30, n=41)),
        "stability_atlas": fig_stability_atlas.plot(
            fig_stability_atlas.compute(n_alpha=25, n_tau=15)
        ),
        "stability_map": fig_stability_map.plot(
            fig_stability_map.compute(n=40, scale=16, sup_kmax=64)
        ),
    }


def test_legends_inside_maths_in_labels_and_diverging_maps_only_for_signed_data():
    from matplotlib.colors import TwoSlopeNorm

    from lstmlif.figures.style import DIVERGING, plt

    for name, fig in _small_figures().items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        box = fig.bbox
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        for leg in legends:
            ext = leg.get_window_extent(renderer)
            assert ext.x0 >= box.x0 - 1 and ext.x1 <= box.x1 + 1, name
            assert ext.y0 >= box.y0 - 1 and ext.y1 <= box.y1 + 1, name
        labels = [ax.get_xlabel() + ax.get_ylabel() + ax.get_title() for ax in fig.axes]
        assert any("$" in text for text in labels), f"{name}: no mathtext in any label"
        for ax in fig.axes:
            for artist in [*ax.images, *ax.collections]:
                cmap = getattr(artist, "get_cmap", lambda: None)()
                if cmap is None or cmap.name != DIVERGING:
                    continue
                arr = np.ma.masked_invalid(np.asarray(artist.get_array(), dtype=float))
                norm = artist.norm
                centre = (
                    norm.vcenter
                    if isinstance(norm, TwoSlopeNorm)
                    else 0.5 * (norm.vmin + norm.vmax)
                )
                assert arr.min() < centre < arr.max(), f"{name}: diverging map on one-signed data"
        plt.close(fig)


def test_pngs_are_written_at_300_dpi_with_a_tight_box(tmp_path):
    from PIL import Image

    from lstmlif.figures.files import save_figure
    from lstmlif.figures.style import DPI, plt

    assert DPI == 300
    fig, ax = plt.subplots(figsize=(2.0, 1.0))
    ax.plot([0, 1], [0, 1])
    save_figure(fig, tmp_path, "small")
    with Image.open(tmp_path / "small.png") as im:
        assert im.info["dpi"] == pytest.approx((300, 300), abs=0.5)
        # the tight box fits the drawn content (tick labels included), not the 600 x 300 canvas
        assert im.size != (600, 300) and 400 < im.size[0] < 800 and 200 < im.size[1] < 500
