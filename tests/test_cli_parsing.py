"""The command line's shared parsing rules: numbers (negative, exponent, lists) are values, and
every help text shows each option's default, for every subcommand."""

from __future__ import annotations

import argparse
import json
import math
import re

import pytest

from lstmlif.cli import COMMANDS, Parser, build_parser, main, number_list


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser(name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def test_negative_numbers_with_exponents_are_values(capsys):
    # argparse's own rule reads -1e3 as an unknown option ("expected 2 arguments")
    assert main(["inspect", "lstmlif", "--logits", "1", "-1e3", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["params"]["beta1"] == pytest.approx(-1 / (1 + math.exp(-1)), rel=1e-15)
    assert 0 <= rep["params"]["beta2"] < 1e-300  # sigmoid(-1000) = e^-1000 underflows to 0
    assert main(["inspect", "lstmlif", "--logits", "-.5", "-1.5E+0", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["params"]["beta1"] == pytest.approx(-1 / (1 + math.exp(0.5)), rel=1e-15)
    assert rep["params"]["beta2"] == pytest.approx(1 / (1 + math.exp(1.5)), rel=1e-15)


def test_a_non_finite_number_is_a_value_and_then_a_clear_error(capsys):
    assert main(["inspect", "lstmlif", "--logits", "1", "-inf"]) == 2
    err = capsys.readouterr().err
    assert "c2" in err and "finite" in err and "Traceback" not in err


def test_an_option_is_still_an_option():
    with pytest.raises(SystemExit) as exit_:
        build_parser("inspect").parse_args(["inspect", "lstmlif", "--logits", "1", "--kmax"])
    assert exit_.value.code == 2


def _list_parser(kind=float) -> Parser:
    p = Parser(prog="t")
    p.add_argument("--betas", **number_list(kind, help="values"))
    p.add_argument("--flag", action="store_true")
    return p


@pytest.mark.parametrize(
    "argv",
    [
        ["--betas", "-0.5", "0.5", "2e-1"],
        ["--betas=-0.5,0.5,2e-1"],
        ["--betas", "-0.5,0.5", "2e-1"],
        ["--betas", "-0.5", "0.5,", "2e-1", "--flag"],
    ],
)
def test_number_lists_take_spaces_commas_or_both(argv):
    args = _list_parser().parse_args(argv)
    assert args.betas == [-0.5, 0.5, 0.2]


def test_number_list_rejects_words_non_finite_values_and_fractional_ints(capsys):
    for argv, kind, word in (
        (["--betas", "0.5", "x"], float, "'x' is not a number"),
        (["--betas", "nan"], float, "not a finite number"),
        (["--betas", "1,2.5"], int, "'2.5' is not an integer"),
        (["--betas", ","], float, "at least one number"),
    ):
        with pytest.raises(SystemExit) as exit_:
            _list_parser(kind).parse_args(argv)
        assert exit_.value.code == 2
        assert word in capsys.readouterr().err


def test_the_existing_comma_lists_accept_a_leading_minus_without_the_equals_sign():
    args = build_parser("experiment").parse_args(
        ["experiment", "quadrants", "--betas", "-0.5,-0.2,0.2,0.5", "--seeds", "0,1"]
    )
    assert list(args.betas) == [-0.5, -0.2, 0.2, 0.5] and list(args.seeds) == [0, 1]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_help_text_shows_every_default(name):
    sub = _subparser(name)
    text = " ".join(sub.format_help().split())
    shown = 0
    for action in sub._actions:
        default = action.default
        if (
            not action.option_strings
            or default in (None, False, argparse.SUPPRESS)
            or (isinstance(default, (list, tuple)) and not default)
        ):
            continue
        value = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        # the option's own entry names the default (written by the module, or appended)
        start = text.index(action.option_strings[-1] + " ", text.index("options:"))
        # another option as a whole word ("-h" inside "--hidden" is not the option -h)
        following = [
            m.start()
            for o in _other_options(sub, action)
            if (m := re.compile(rf"(?<![\w-]){re.escape(o)}(?![\w-])").search(text, start + 1))
        ]
        end = min([i for i in following if i > start] or [len(text)])
        entry = text[start:end]
        assert "default" in entry, (name, action.option_strings, entry)
        named = str(value).rstrip("/") in entry
        assert named or "the model's own" in entry or "each model" in entry
        shown += 1
    if name in ("inspect", "verify"):
        assert shown >= 1


def _other_options(parser, action):
    return [o for a in parser._actions if a is not action for o in a.option_strings]


def test_help_shows_an_appended_default():
    text = _subparser("inspect").format_help()
    assert "(default: 10000)" in " ".join(text.split())
    text = " ".join(_subparser("verify").format_help().split())
    assert "default: float64" in text and "(default: 1.0)" in text


@pytest.mark.parametrize(
    "argv, rest",
    [
        # argparse's prefix matching read these as --only-disagreements plus a stray "x" and as
        # --seeds 1
        (["paper", "--only", "x"], "--only x"),
        (["lyapunov", "lif", "--seed", "1"], "--seed 1"),
        (["inspect", "lif", "--js"], "--js"),
    ],
)
def test_an_option_is_taken_only_by_its_whole_name(argv, rest, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith(f"lstmlif: error: unrecognized arguments: {rest}\n")


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _all_parsers(child)
    return found


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_subcommand_refuses_abbreviated_options(name):
    parsers = _all_parsers(build_parser(name))
    assert len(parsers) >= 1 + len(COMMANDS)  # the top parser and every subcommand
    assert [p.prog for p in parsers if p.allow_abbrev] == []
