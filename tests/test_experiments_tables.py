"""The README's learning-experiment tables are the tables generated from the committed records,
to the printed digit (``lstmlif.experiments.tables``)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from lstmlif.experiments.tables import TABLES, generate, readme_blocks

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"


def _mismatches(readme: str) -> list[str]:
    """The tables whose README block is missing or differs from the generated one."""
    blocks = readme_blocks(readme)
    out = []
    for name in TABLES:
        if name not in blocks:
            out.append(f"{name}: no <!-- table:{name} --> ... <!-- /table --> block in README.md")
        elif blocks[name] != generate(name, RESULTS):
            out.append(f"{name}: README.md's block differs from the records; regenerate it")
    return out


def test_readme_tables_are_the_records():
    readme = (REPO / "README.md").read_text()
    assert _mismatches(readme) == []


def test_a_changed_digit_or_a_missing_block_is_caught():
    block = generate("recall-cue-separate", RESULTS)
    readme = "".join(
        f"<!-- table:{name} -->\n{generate(name, RESULTS)}<!-- /table -->\n" for name in TABLES
    )
    assert _mismatches(readme) == []
    changed = readme.replace(block, block.replace("-4.1", "-4.0"), 1)
    assert changed != readme
    assert _mismatches(changed) == [
        "recall-cue-separate: README.md's block differs from the records; regenerate it"
    ]
    assert len(_mismatches("no tables here")) == len(TABLES)


def _records(folder: Path, **match) -> list[dict]:
    out = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if all(
            record["config"].get(k, v if k == "cue_channels" else None) == v
            for k, v in match.items()
        ):
            out.append(record)
    return out


def test_printed_numbers_by_hand():
    """Cells recomputed from the JSON files with the standard library, then rounded as
    printed: ALIF's separate-cue D = 200 cue gradient (mean log10 -4.05..., printed -4.1) and
    LIF's committed D = 25 accuracy (mean and population sd over 3 seeds)."""
    alif = _records(RESULTS / "cue_separate" / "recall", model="alif", delay=200)
    assert len(alif) == 3
    mean = statistics.fmean(math.log10(r["result"]["init"]["cue_norm"]) for r in alif)
    assert -4.1 < mean < -4.05
    row = next(
        line
        for line in generate("recall-cue-separate", RESULTS).splitlines()
        if line.startswith("| ALIF ")
    )
    assert row.split("|")[-2].strip().split(" / ")[1] == f"{mean:.1f}" == "-4.1"

    lif = [
        r
        for r in _records(RESULTS / "recall", model="lif", delay=25)
        if "budgets" not in r["config"] and r["config"]["updates"] == 200
    ]
    assert len(lif) == 3
    accs = [r["final_accuracy"] for r in lif]
    text = f"{statistics.fmean(accs):.2f} ± {statistics.pstdev(accs):.2f}"
    row = next(
        line
        for line in generate("recall-committed", RESULTS).splitlines()
        if line.startswith("| LIF ")
    )
    assert row.split("|")[2].strip() == text

    # LIF's cue-gradient decay: the least-squares slope by the standard library's regression
    # over its 12 runs at D = 25 to 200 (all normal float32 numbers there).
    lif_runs = [
        r
        for r in _records(RESULTS / "recall", model="lif")
        if "budgets" not in r["config"]
        and r["config"]["updates"] == 200
        and 25 <= r["config"]["delay"] <= 200
    ]
    assert len(lif_runs) == 12
    fit = statistics.linear_regression(
        [r["config"]["delay"] for r in lif_runs],
        [math.log10(r["result"]["init"]["cue_norm"]) for r in lif_runs],
    )
    row = next(
        line
        for line in generate("recall-cue-decay", RESULTS).splitlines()
        if line.startswith("| LIF ")
    )
    assert row.split("|")[2].strip() == f"{-fit.slope:.3g}" == "0.0983"
