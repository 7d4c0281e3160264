"""Training with the online rules (``online.train``) and the runner of the learning plan
(``experiments.online_learning``).

The gradient a rule trains with is checked against torch autograd through a forward written
here (the layer's step with ``TORCH_OPS``, the readout of the mean spikes of the last steps,
cross-entropy): a path independent of the generated partials and of ``online.bptt``. RTRL
equals it for a recurrent layer, OSTL for a feed-forward one (float64, 1e-10 relative); e-prop,
OSTL and the trace rule do not for a recurrent layer. Every check asserts spikes and a finite,
non-zero gradient.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lstmlif.experiments import online_learning as ol
from lstmlif.experiments.tasks import RecallTask, recall_batch
from lstmlif.neurons import TORCH_OPS
from lstmlif.neurons.mathspace import TORCH_MATH
from lstmlif.online.core import LinearLoss, Sweep, make_inputs, make_layer
from lstmlif.online.train import forward_spikes, readout_loss, recall_gradients, with_values

R = 3  # readout steps


def _setup(model: str, recurrent: bool, steps: int = 14, batch: int = 3, seed: int = 0):
    layer = make_layer(
        model, hidden=4, inputs=3, recurrent=recurrent, recurrent_scale=0.8, seed=seed
    )
    u = make_inputs(layer, steps, batch, seed=seed)
    rng = np.random.default_rng(seed + 11)
    w_out = rng.standard_normal((4, 4))
    b_out = rng.standard_normal(4)
    y = rng.integers(0, 4, size=batch)
    return layer, u, w_out, b_out, y


def _torch_reference(layer, u, w_out, b_out, y):
    """(loss, {tensor: gradient}, spike count) by autograd through a forward written here."""
    dt = torch.float64
    w_in = torch.tensor(layer.w_in, dtype=dt, requires_grad=True)
    w_rec = None if layer.w_rec is None else torch.tensor(layer.w_rec, dtype=dt, requires_grad=True)
    raw = {n: torch.tensor(layer.raw[n], dtype=dt, requires_grad=True) for n in layer.trained}
    wo = torch.tensor(w_out, dtype=dt, requires_grad=True)
    bo = torch.tensor(b_out, dtype=dt, requires_grad=True)
    values = {n: torch.as_tensor(v, dtype=dt) for n, v in layer.model.params().items()}
    values.update({n: t.form.forward(raw[n], TORCH_MATH) for n, t in layer.trained.items()})
    model = layer.model.replace(**values)
    U = torch.tensor(u, dtype=dt)
    p = model.coefficients(TORCH_OPS).on(U)
    zeros = U.new_zeros((U.shape[1], layer.hidden))
    state = {n: zeros for n in model.state_names}
    state["S"] = zeros
    spikes = []
    for t in range(U.shape[0]):
        current = U[t] @ w_in.T
        if w_rec is not None:
            current = current + state["S"] @ w_rec.T
        state, S = model.step(p, state, current, TORCH_OPS)
        spikes.append(S)
    S = torch.stack(spikes)
    logits = S[-R:].mean(0) @ wo.T + bo
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    tensors = {"w_in": w_in, **({"w_rec": w_rec} if w_rec is not None else {})}
    tensors.update({t.raw: raw[n] for n, t in layer.trained.items()})
    tensors.update({"w_out": wo, "b_out": bo})
    grads = torch.autograd.grad(loss, list(tensors.values()), allow_unused=True)
    out = {
        n: np.zeros(tuple(x.shape)) if g is None else g.numpy()
        for (n, x), g in zip(tensors.items(), grads, strict=True)
    }
    return float(loss.detach()), out, float(S.detach().sum())


def _flat(g: dict[str, np.ndarray], names) -> np.ndarray:
    return np.concatenate([np.ravel(g[n]) for n in names])


def _relative_error(g, ref) -> float:
    names = sorted(ref)
    a, b = _flat(g, names), _flat(ref, names)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_forward_spikes_are_the_sweeps():
    layer, u, *_ = _setup("alif", recurrent=True)
    S = forward_spikes(layer, u)
    sweep = Sweep(layer, u, LinearLoss(np.zeros_like(S)))
    ref = np.stack([terms.S for terms in sweep])
    assert S.sum() > 0
    np.testing.assert_array_equal(S, ref)


def test_readout_loss_matches_autograd():
    rng = np.random.default_rng(3)
    S = (rng.random((9, 5, 4)) < 0.3).astype(float)
    w_out, b_out = rng.standard_normal((3, 4)), rng.standard_normal(3)
    y = rng.integers(0, 3, size=5)
    loss, logits, grads, grad_S = readout_loss(S, w_out, b_out, y, R)
    St = torch.tensor(S, requires_grad=True)
    wo = torch.tensor(w_out, requires_grad=True)
    bo = torch.tensor(b_out, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(St[-R:].mean(0) @ wo.T + bo, torch.tensor(y))
    gS, gw, gb = torch.autograd.grad(ref, [St, wo, bo])
    assert loss == pytest.approx(float(ref.detach()), rel=1e-14)
    np.testing.assert_allclose(grad_S, gS.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads["w_out"], gw.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads["b_out"], gb.numpy(), rtol=1e-12, atol=1e-15)
    assert np.all(grad_S[:-R] == 0) and np.any(grad_S[-R:] != 0)


@pytest.mark.parametrize("model", ["lif", "alif", "lstmlif", "adlif", "se-adlif"])
@pytest.mark.parametrize(("rule", "recurrent"), [("rtrl", True), ("bptt", True), ("ostl", False)])
def test_exact_rules_give_the_recall_gradient(model, rule, recurrent):
    layer, u, w_out, b_out, y = _setup(model, recurrent)
    loss, ref, spikes = _torch_reference(layer, u, w_out, b_out, y)
    g = recall_gradients(rule, layer, w_out, b_out, u, y, R)
    assert spikes > 0
    assert all(np.all(np.isfinite(v)) for v in g.gradients.values())
    hidden = list(layer.tensor_names())
    assert np.linalg.norm(_flat(ref, hidden)) > 0
    assert g.loss == pytest.approx(loss, rel=1e-12)
    assert set(g.gradients) == set(ref)
    assert _relative_error(g.gradients, ref) < 1e-10


@pytest.mark.parametrize("rule", ["eprop", "ostl", "ottt"])
def test_approximate_rules_differ_with_recurrence(rule):
    layer, u, w_out, b_out, y = _setup("lstmlif", recurrent=True, steps=20)
    _, ref, spikes = _torch_reference(layer, u, w_out, b_out, y)
    g = recall_gradients(rule, layer, w_out, b_out, u, y, R)
    assert spikes > 0
    assert all(np.all(np.isfinite(v)) for v in g.gradients.values())
    hidden = list(layer.tensor_names())
    assert np.linalg.norm(_flat(g.gradients, hidden)) > 0
    assert _relative_error({n: g.gradients[n] for n in hidden}, {n: ref[n] for n in hidden}) > 1e-6
    # the readout's gradient is exact whatever the rule
    for n in ("w_out", "b_out"):
        np.testing.assert_allclose(g.gradients[n], ref[n], rtol=1e-12, atol=1e-15)


def test_recall_gradients_refuses_bad_input():
    layer, u, w_out, b_out, y = _setup("lif", recurrent=True)
    with pytest.raises(ValueError, match="unknown rule"):
        recall_gradients("sgd", layer, w_out, b_out, u, y, R)
    with pytest.raises(ValueError, match="readout_steps"):
        recall_gradients("ostl", layer, w_out, b_out, u, y, 0)
    with pytest.raises(ValueError, match="labels"):
        recall_gradients("ostl", layer, w_out, b_out, u, np.array([0, 9, 1]), R)
    with pytest.raises(ValueError, match="inputs"):
        recall_gradients("ostl", layer, w_out, b_out, u[:, :, :2], y, R)


def test_with_values_replaces_and_clamps():
    layer = make_layer("se-adlif", hidden=3, inputs=3)
    (name, spec), *_ = layer.trained.items()
    lo, hi = spec.form.clamps_after_step()
    new = with_values(layer, {spec.raw: np.array([lo - 1.0, 0.5 * (lo + hi), hi + 2.0])})
    np.testing.assert_array_equal(new.raw[name], [lo, 0.5 * (lo + hi), hi])
    np.testing.assert_array_equal(layer.raw[name], np.full(3, layer.raw[name][0]))
    w = np.ones_like(layer.w_in)
    assert np.all(with_values(layer, {"w_in": w}).w_in == 1.0)
    with pytest.raises(ValueError, match="unknown tensors"):
        with_values(layer, {"nope": w})


# ----------------------------------------------------------------------------- the runner

TINY = {
    "name": "tiny",
    "models": ["lif", "lstmlif"],
    "rules": ["bptt", "eprop"],
    "delays": [2, 4],
    "seeds": [0, 1],
    "threshold": 0.3,
    "lrs": [0.003, 0.03],
    "clips": [None, 1.0],
    "budgets": [2, 4],
    "sizes": {
        "hidden": 4,
        "batch": 4,
        "n_val": 8,
        "n_test": 8,
        "target_rate": 0.05,
        "n_classes": 4,
    },
    "stopping_rule": "at least one seed at the threshold in validation",
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results") / "online_learning"
    folder.mkdir()
    plan_path = folder / "plan.json"
    plan_path.write_text(json.dumps(TINY))
    assert ol.main(["run", "--plan", str(plan_path)]) == 0
    return folder, plan_path


def test_runner_resumes_and_tables(tiny_run, capsys):
    folder, plan_path = tiny_run
    files = sorted((folder / "runs").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    # first delay: 2 pairs x 2 rules x 2 learning rates x 2 seeds, then the clip at one rate
    records = [json.loads(p.read_text()) for p in files]
    first = [r for r in records if r["config"]["delay"] == 2]
    assert len(first) == 4 * (2 + 1) * 2
    assert all(r["cpu_time_s"] > 0 for r in records)
    capsys.readouterr()
    assert ol.main(["run", "--plan", str(plan_path)]) == 0
    assert "computed" not in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    assert ol.main(["table", "--plan", str(plan_path), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["runs"] == len(files)
    cell = next(
        c for c in table["cells"] if (c["model"], c["rule"], c["delay"]) == ("lif", "bptt", 2)
    )
    # the chosen point has the highest mean validation accuracy over the seeds (independently)
    mine = [r for r in first if (r["config"]["model"], r["config"]["rule"]) == ("lif", "bptt")]
    best = -1.0
    for r0 in mine:
        for b in TINY["budgets"]:
            group = [
                r
                for r in mine
                if (r["config"]["lr"], r["config"]["clip"])
                == (r0["config"]["lr"], r0["config"]["clip"])
            ]
            vals = [[p for p in r["result"]["curve"] if p["update"] <= b][-1] for r in group]
            if len(vals) == 2:
                best = max(best, float(np.mean([v["val_accuracy"] for v in vals])))
    assert cell["val_accuracy"] == pytest.approx(best)
    assert cell["test_ci_low"] <= cell["test_accuracy"] <= cell["test_ci_high"]
    assert ol.main(["table", "--plan", str(plan_path)]) == 0
    text = capsys.readouterr().out
    assert "| lif | bptt |" in text and "largest learned" in text


def test_runner_counts_aborted_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ol, "HUGE_GRADIENT", 0.0)
    plan = {**TINY, "models": ["lif"], "rules": ["ostl"], "delays": [2], "lrs": [0.01]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert ol.main(["run", "--plan", str(path)]) == 0
    capsys.readouterr()
    assert ol.main(["table", "--plan", str(path), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["runs"] == 4 and table["aborted"] == 4
    (cell,) = table["cells"]
    assert cell["aborted"] == 2 and cell["grid_runs_aborted"] == 4
    rec = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert rec["result"]["status"] == "huge-gradient" and rec["result"]["aborted_at"] == 1
    # an aborted run keeps its initial parameters: its accuracy is that of update 0
    assert [p["update"] for p in rec["result"]["curve"]] == [0]


def test_plan_errors_exit_2(tmp_path, capsys):
    assert ol.main(["table", "--plan", str(tmp_path / "missing.json")]) == 2
    assert "unreadable" in capsys.readouterr().err
    bad = {k: v for k, v in TINY.items() if k != "lrs"}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(bad))
    assert ol.main(["table", "--plan", str(path)]) == 2
    assert "'lrs' is missing" in capsys.readouterr().err
    path.write_text(json.dumps({**TINY, "rules": ["sgd"]}))
    assert ol.main(["table", "--plan", str(path)]) == 2
    assert "unknown rule" in capsys.readouterr().err
    path.write_text(json.dumps({**TINY, "delays": [4, 2]}))
    assert ol.main(["table", "--plan", str(path)]) == 2
    assert "ascending" in capsys.readouterr().err
    path.write_text(json.dumps(TINY))
    assert ol.main(["run", "--plan", str(path), "--part", "3/2"]) == 2
    assert "part" in capsys.readouterr().err


def test_the_committed_plan_loads():
    plan = ol.load_plan()
    assert len(plan["seeds"]) >= 5 and len(plan["lrs"]) >= 5 and len(plan["budgets"]) >= 3
    assert None in plan["clips"]
    assert plan["delays"] == sorted(plan["delays"])


def test_network_is_calibrated_and_seeded():
    task = RecallTask(delay=5)
    a = ol.build_network("lstmlif", task, 6, 0, 0.1)
    b = ol.build_network("lstmlif", task, 6, 0, 0.1)
    np.testing.assert_array_equal(a[0].w_in, b[0].w_in)
    x = ol._inputs(recall_batch(task, 64, (0, 1))[0])
    rate = forward_spikes(a[0], x).mean()
    assert 0.03 < rate < 0.3


def test_figure_reads_the_plan_folder(tiny_run, tmp_path):
    from lstmlif.figures import fig_online_learning as fig

    folder, _ = tiny_run
    data = fig.compute(folder.parent)
    assert list(data["models"]) == ["lif", "lstmlif"]  # registry order
    table = ol.table_rows(ol.load_plan(folder / "plan.json"), folder)
    for c in table["cells"]:
        i = TINY["rules"].index(c["rule"])
        j = TINY["delays"].index(c["delay"])
        assert data[f"{c['model']}/mean"][i, j] == pytest.approx(c["test_accuracy"])
    result = fig.make(tmp_path, results_dir=folder.parent)
    assert {p.suffix for p in result["paths"]} == {".png", ".pdf", ".npz"}
    empty = tmp_path / "empty"
    with pytest.warns(UserWarning, match="online_learning"):
        assert fig.make(tmp_path, results_dir=empty)["paths"] == []


def test_a_cell_with_a_missing_run_is_not_tabled(tiny_run, tmp_path):
    import shutil

    folder, _ = tiny_run
    copy = tmp_path / "online_learning"
    shutil.copytree(folder, copy)
    plan = ol.load_plan(copy / "plan.json")
    before = {(c["model"], c["rule"], c["delay"]) for c in ol.cells(plan, copy)}
    assert ("lif", "eprop", 2) in before
    victim = next(
        p
        for p in (copy / "runs").glob("*.json")
        if (lambda c: (c["model"], c["rule"], c["delay"], c["lr"], c["clip"]))(
            json.loads(p.read_text())["config"]
        )
        == ("lif", "eprop", 2, TINY["lrs"][0], None)
    )
    victim.unlink()
    after = {(c["model"], c["rule"], c["delay"]) for c in ol.cells(plan, copy)}
    assert ("lif", "eprop", 2) not in after
    assert {k for k in before if k[:2] != ("lif", "eprop")} <= after


def test_alignment_of_the_exact_rule_is_one(tmp_path, capsys):
    sizes = {"hidden": 5, "batch": 4, "n_classes": 4, "target_rate": 0.1}
    rows = ol.alignment_row("alif", 6, 0, ["rtrl", "ostl"], sizes)
    exact, approx = rows
    assert exact["rate"] > 0 and exact["bptt_cue_norm"] > 0
    assert exact["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert exact["cue_cosine"] == pytest.approx(1.0, abs=1e-12)
    assert exact["relative_error"] < 1e-10
    assert approx["relative_error"] > 1e-6 and -1.0 <= approx["cosine"] <= 1.0
    text = ol.alignment_table(rows)
    assert "| alif | rtrl | 1.00 / 1.00 |" in text
