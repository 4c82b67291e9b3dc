"""`lropt compare` through click: a small run, and errors without tracebacks."""
import json

import pytest
from click.testing import CliRunner

from lropt.cli import cli

SMALL = ["compare", "--task", "quadratic-10d", "--steps", "20", "--seeds", "2", "--methods", "constant,cosine",
         "--controller", "identity"]


def test_small_run_writes_everything(tmp_path):
    res = CliRunner().invoke(cli, [*SMALL, "--lr-factors", "1,10", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for name in ("results.json", "results.md", "compare.png", "tb"):
        assert (tmp_path / name).exists()
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["meta"]["methods"] == ["lropt", "constant", "cosine"] and data["meta"]["lr_factors"] == [1.0, 10.0]
    assert data["meta"]["controller"]["spec"] == "identity" and data["meta"]["controller"]["identity"]
    assert "--task quadratic-10d" in data["meta"]["command"]
    assert "runs 12/12 (100%)" in res.output  # not a terminal: plain progress lines, the last one at the end
    table = res.output[res.output.index("lropt matches"):]  # the table comes last
    assert "cosine" in table and "lropt" in table


def test_tasks_can_be_repeated_or_comma_separated(tmp_path):
    args = ["compare", "--task", "quadratic-10d,linreg-ill", "--task", "quadratic-10d", "--steps", "5",
            "--seeds", "1", "--methods", "constant", "--lr-factors", "1", "--out", str(tmp_path)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert list(data["tasks"]) == ["quadratic-10d", "linreg-ill"]  # a repeated name runs once


@pytest.mark.parametrize("args, words", [
    (["--task", "quadratic-10"], ["quadratic-10d"]),
    (["--task", "quadratic-10d", "--methods", "cosin"], ["cosine"]),
    (["--task", "quadratic-10d", "--controller", "nope"], ["controller"]),
])
def test_unknown_names_are_usage_errors_with_close_matches(args, words):
    res = CliRunner().invoke(cli, ["compare", *args])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
    for w in words:
        assert w in res.output


@pytest.mark.parametrize("args", [
    ["--seeds", "0"], ["--steps", "-3"], ["--lr-factors", "a,b"], ["--lr-factors", "0,1"], ["--threads", "0"],
    ["--regime", "best"],
])
def test_bad_numbers_are_bad_parameters(args):
    res = CliRunner().invoke(cli, ["compare", "--task", "quadratic-10d", *args])
    assert res.exit_code == 2 and "Invalid value" in res.output, res.output


def test_divergence_factor_must_exceed_one():
    res = CliRunner().invoke(cli, [*SMALL, "--divergence-factor", "1"])
    assert res.exit_code == 2 and "divergence-factor" in res.output


def test_no_total_steps_runs_lropt_without_the_run_length(tmp_path):
    """The default controller reads progress; without total_steps it sees none, and its LR path differs."""
    mults = {}
    for flag in ("--total-steps", "--no-total-steps"):
        out = tmp_path / flag
        args = ["compare", "--task", "quadratic-10d", "--steps", "30", "--seeds", "1", "--methods", "constant",
                "--lr-factors", "1", "--controller", "default", flag, "--out", str(out)]
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
        data = json.loads((out / "results.json").read_text())
        assert data["meta"]["tell_total_steps"] is (flag == "--total-steps")
        assert ("--no-total-steps" in data["meta"]["command"]) is (flag == "--no-total-steps")
        assert ("no total_steps" in (out / "results.md").read_text()) is (flag == "--no-total-steps")
        lro = next(c for c in data["tasks"]["quadratic-10d"]["cells"] if c["method"] == "lropt")
        mults[flag] = lro["runs"][0]["multiplier"]
    assert mults["--total-steps"] != mults["--no-total-steps"]


def test_lropt_every_holds_the_multiplier_between_controller_calls(tmp_path):
    """--lropt-every N is the wrapper's every=N: the multiplier changes only every N steps, and the command
    and metadata record it."""
    out = tmp_path / "every"
    args = ["compare", "--task", "quadratic-10d", "--steps", "30", "--seeds", "1", "--methods", "constant",
            "--lr-factors", "1", "--controller", "default", "--lropt-every", "5", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    data = json.loads((out / "results.json").read_text())
    assert data["meta"]["lropt_every"] == 5 and "--lropt-every 5" in data["meta"]["command"]
    mult = next(c for c in data["tasks"]["quadratic-10d"]["cells"] if c["method"] == "lropt")["runs"][0]["multiplier"]
    changes = [i for i in range(1, len(mult)) if mult[i] != mult[i - 1]]
    assert changes and all(i % 5 == 0 for i in changes), changes
    res = CliRunner().invoke(cli, [*args[:-2], "--lropt-every", "0", "--out", str(out)])
    assert res.exit_code == 2 and "lropt-every" in res.output
