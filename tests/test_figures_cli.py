"""``lstmlif figures`` when a figure cannot be drawn: the experiment figure with no results is
exit status 2 with one line naming the folder it looked in (``--results DIR`` chooses it), and
``index.md`` never lists a figure without files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmlif.cli import main


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LSTMLIF_RESULTS", raising=False)
    return tmp_path


def _index_entries(out: Path) -> list[str]:
    return [line for line in (out / "index.md").read_text().splitlines() if line.startswith("- ")]


def test_experiments_without_results_is_exit_2_naming_the_folder(elsewhere, capsys):
    code = main(["figures", "--only", "experiments", "--out", "X"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"no experiment results under {elsewhere.resolve() / 'results'}/" in err
    assert "--results DIR" in err
    assert _index_entries(elsewhere / "X") == []
    assert sorted(p.name for p in (elsewhere / "X").iterdir()) == ["index.md"]


def test_the_results_option_names_where_to_look(elsewhere, capsys):
    (elsewhere / "empty").mkdir()
    code = main(["figures", "--only", "experiments", "--out", "X", "--results", "empty"])
    assert code == 2
    assert f"under {elsewhere.resolve() / 'empty'}/" in capsys.readouterr().err
    code = main(["figures", "--only", "experiments", "--out", "X", "--results", "missing"])
    err = capsys.readouterr().err
    assert code == 2 and "--results missing: no such folder" in err


def test_results_environment_variable_is_the_default(elsewhere, capsys, monkeypatch):
    monkeypatch.setenv("LSTMLIF_RESULTS", str(elsewhere / "from_env"))
    assert main(["figures", "--only", "experiments", "--out", "X"]) == 2
    assert f"under {elsewhere.resolve() / 'from_env'}/" in capsys.readouterr().err


def test_a_figure_that_draws_nothing_publishes_nothing_and_is_not_listed(elsewhere):
    from lstmlif.figures.registry import make_figures, write_index

    out = elsewhere / "out"
    results = make_figures(only=["experiments"], out_dir=out, progress=False, results_dir="none")
    assert results["experiments"]["paths"] == []
    assert "no experiment results under none/" in results["experiments"]["note"]
    assert not list(out.glob("experiments*")) and not list(out.glob(".experiments*"))
    # an empty set left by an earlier version (a manifest listing no files) is not listed
    (out / ".experiments.set").write_text('{"figure": "experiments", "files": {}}\n')
    write_index(out)
    assert _index_entries(out) == []
