"""``lstmlif experiment`` options: budgets, task variant, tuning, and hostile values refused up
front with a message naming the option and its limit (nothing runs, nothing is written)."""

from __future__ import annotations

import pytest

from lstmlif.cli import main as cli_main
from lstmlif.experiments import LIMITS, estimate_run, make_configs, run_experiment
from lstmlif.experiments.tuning import budget_accuracy, tuned_rows


@pytest.fixture
def no_runs(monkeypatch):
    import lstmlif.experiments.runner as runner

    def refuse(*args, **kwargs):
        raise AssertionError("a run started although the options were refused")

    monkeypatch.setattr(runner, "run_config", refuse)


HOSTILE = [
    (["recall", "--delays", "1000000000"], "--delays must lie in [0, 10000], got 1000000000"),
    (["recall", "--seeds", "1" + "0" * 23], "--seeds must lie in [0, 4294967295]"),
    (["recall", "--seeds", "1e23"], "--seeds: '1e23' is not an integer"),
    (["recall", "--seeds", "-1"], "--seeds must lie in [0, 4294967295], got -1"),
    (["recall", "--seeds", ",".join(map(str, range(1001)))], "--seeds: at most 1000 values"),
    (["quadrants", "--betas=1e300"], "--betas must lie in [-4, 4], got 1e+300"),
    (["quadrants", "--betas=nan"], "--betas: 'nan' is not a finite number"),
    (["quadrants", "--betas", "0", "0.5"], "--betas must be finite and non-zero"),
    (["recall", "--updates", "1000000000"], "--updates must lie in [1, 100000]"),
    (["recall", "--updates", "0"], "--updates must lie in [1, 100000], got 0"),
    (["digits", "--epochs", "100000"], "--epochs must lie in [1, 1000]"),
    (["recall", "--hidden", "1000000"], "--hidden must lie in [1, 4096]"),
    (["recall", "--lr", "0"], "--lr must lie in (0, 1], got 0.0"),
    (["recall", "--lr", "inf"], "--lr must lie in (0, 1], got inf"),
    (["recall", "--lr", "1e3"], "--lr must lie in (0, 1]"),
    (["recall", "--delays", "10000", "--hidden", "4096"], "GiB, more than the limit of"),
    (["recall", "--models", "lif,gru"], "unknown model 'gru'"),
    (["recall", "--models", ","], "--models must not be empty"),
    (["recall", "--cue-channels", "mixed"], "argument --cue-channels: invalid choice"),
    (["recall", "--tune", "--lr", "0.01"], "--tune sets the learning rates and budgets itself"),
    (["quadrants", "--tune"], "experiment 'quadrants' does not take --tune"),
    (["digits", "--updates", "5"], "experiment 'digits' does not take --updates"),
    (["recall", "--epochs", "5"], "experiment 'recall' does not take --epochs"),
    (["digits", "--hidden", "5"], "experiment 'digits' does not take --hidden"),
]


@pytest.mark.parametrize(("argv", "words"), HOSTILE)
def test_hostile_options_are_refused_before_any_work(argv, words, tmp_path, capsys, no_runs):
    out = tmp_path / "res"
    try:
        code = cli_main(["experiment", *argv, "--out", str(out), "--no-progress"])
    except SystemExit as stop:  # argparse's own refusals (not a number, not a choice)
        code = stop.code
    assert code == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_limits_are_what_the_memory_estimate_allows():
    # The longest delay at the default size fits in half of a machine with 16 GiB: the graph
    # keeps 24 bytes per (step, sequence, neuron) and carried state plus one.
    config = make_configs("recall", delays=[LIMITS["delay"]], models=["lstmlif"], seeds=[0])[0]
    steps = 5 + LIMITS["delay"] + 5
    assert estimate_run(config)["memory_bytes"] == steps * 128 * 64 * 24 * 3
    assert estimate_run(config)["memory_bytes"] < 8 * 2**30
    lif = make_configs("recall", delays=[100], models=["lif"], seeds=[0])[0]
    assert estimate_run(lif)["memory_bytes"] == 110 * 128 * 64 * 24 * 2
    assert estimate_run(lif)["seconds"] == pytest.approx(200 * 110 * (5e-4 + 128 * 64 * 1e-8))


def test_duplicates_run_once_and_budget_options_shape_the_config(tmp_path):
    # --models lif,lif and --seeds 0,0 run one run, not two.
    report = run_experiment(
        "recall", tmp_path, quick=True, models=["lif", "lif"], seeds=[0, 0], progress=False
    )
    assert len(report.computed) == 1 and len(report.records) == 1
    assert make_configs("recall", quick=True, models="all") == make_configs(
        "recall", quick=True, models=["all"]
    )
    # A registry group stands for its models, in registration order, once each.
    from lstmlif.neurons import model_names

    grouped = make_configs("recall", quick=True, models=["paper", "lif", "TC-LIF"])
    assert [c["model"] for c in grouped] == list(model_names(group="paper"))
    # The default config is exactly the committed one (no new fields); each option changes
    # only its own fields.
    base = make_configs("recall", delays=[25], models=["lif"], seeds=[0])[0]
    assert set(base) == {
        "experiment", "size", "version", "model", "seed", "delay", "hidden", "n_classes",
        "updates", "batch", "n_test", "lr", "eval_at", "target_rate",
    }  # fmt: skip
    changed = make_configs(
        "recall", delays=[25], models=["lif"], seeds=[0], updates=50, lr=3e-3, hidden=16,
        cue_channels="separate",
    )[0]  # fmt: skip
    diff = {k for k in changed if changed.get(k) != base.get(k)}
    assert diff == {"updates", "lr", "hidden", "eval_at", "cue_channels"}
    assert changed["eval_at"] == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert (
        make_configs("recall", models=["lif"], seeds=[0], cue_channels="shared")[0]
        == (make_configs("recall", models=["lif"], seeds=[0])[0])
    )
    # The tuning grid: 3 learning rates x (200, 800) updates, evaluated every 100 updates and
    # on a validation split of 512 sequences; digits: the same rates, 12 and 40 epochs.
    grid = make_configs("recall", delays=[25], models=["alif"], seeds=[0], tune=True)
    assert [c["lr"] for c in grid] == [1e-3, 3e-3, 1e-2]
    assert all(c["updates"] == 800 and c["budgets"] == [200, 800] for c in grid)
    assert grid[0]["eval_at"] == [100, 200, 300, 400, 500, 600, 700, 800]
    assert grid[0]["n_val"] == 512
    digits = make_configs("digits", models=["lif"], seeds=[0], tune=True)
    assert [(c["task"], c["lr"], c["epochs"], c["budgets"]) for c in digits] == [
        (t, lr, 40, [12, 40]) for t in ("sequential", "permuted") for lr in (1e-3, 3e-3, 1e-2)
    ]


def test_a_budget_is_the_prefix_of_the_longer_run(tmp_path):
    """The grid measures budget k by the checkpoint at k updates of the longest run: that is
    the same as a run of k updates (no schedule, no random draws in training)."""
    grid = run_experiment(
        "recall", tmp_path, quick=True, models=["alif"], tune=True, progress=False
    ).records
    assert len(grid) == 2  # learning rates 3e-3 and 1e-2 of the quick grid, 60 updates each
    for record in grid:
        lr = record["config"]["lr"]
        short = run_experiment(
            "recall", tmp_path / "short", quick=True, models=["alif"], updates=20, lr=lr,
            progress=False,
        ).records[0]  # fmt: skip
        assert short["result"]["losses"] == record["result"]["losses"][:20]
        val, test = budget_accuracy("recall", record, 20)
        assert test == short["final_accuracy"]
        assert short["result"]["init"] == record["result"]["init"]

    # The choice follows the validation accuracy, not the test accuracy (hand-made records).
    def fake(lr, val, test):
        curve = [dict(step=20, accuracy=test, val_accuracy=val, spike_rate=0.1, loss=1.0)]
        config = dict(model="lif", delay=5, seed=0, lr=lr, budgets=[20])
        init = dict(log10_cue_norm=-2.0)
        return dict(key=str(lr), config=config, result=dict(curve=curve, status="done",
                    init=init, n_params=1), wall_time_s=1.0)  # fmt: skip

    rows = tuned_rows("recall", [fake(1e-3, 0.9, 0.5), fake(1e-2, 0.8, 1.0)])
    assert [(r["lr"], r["test_accuracy"]) for r in rows] == [(1e-3, 0.5)]
    rows = tuned_rows("recall", [fake(1e-3, 0.8, 0.5), fake(1e-2, 0.8, 1.0)])
    assert rows[0]["lr"] == 1e-3  # a tie goes to the smaller learning rate


def test_number_options_take_spaces_commas_or_both():
    from lstmlif.cli import build_parser

    parser = build_parser("experiment")
    args = parser.parse_args(
        ["experiment", "quadrants", "--betas", "-0.5", "0.5", "--seeds", "0,1", "2", "--delays=25"]
    )
    assert args.betas == [-0.5, 0.5] and args.seeds == [0, 1, 2] and args.delays == [25]
    assert parser.parse_args(["experiment", "quadrants", "--betas", "-0.5,0.5"]).betas == [
        -0.5,
        0.5,
    ]
