"""TensorBoard tags and layout, and the CLI that reads them back."""

import torch
from click.testing import CliRunner

import lropt
from lropt.cli import cli
from lropt.logging import read_scalars
from common import active_controller, loss_at, make_model, two_groups


def logged_run(tmp_path, steps=12, log_every=3, controller=None):
    model = make_model()
    opt = lropt.LROptimizerWrapper(
        torch.optim.AdamW(two_groups(model)), controller=controller or active_controller(),
        log_dir=tmp_path / "run", log_every=log_every,
    )
    for step in range(steps):
        loss = loss_at(model, step)
        loss.backward()
        opt.step(loss=loss)
        opt.zero_grad()
    opt.close()
    return opt, tmp_path / "run"


def test_tags_and_cadence(tmp_path):
    opt, run = logged_run(tmp_path)
    scalars = read_scalars(run)
    for i in (0, 1):
        assert [s for s, _ in scalars[f"lropt/lr/pg{i}"]] == [3, 6, 9, 12]
        assert f"lropt/multiplier/pg{i}" in scalars
    for name in lropt.features.FEATURE_NAMES:
        assert f"lropt/features/{name}" in scalars
    last_lr = scalars["lropt/lr/pg0"][-1][1]
    assert abs(last_lr - opt.get_last_lr()[0]) < 1e-9


def test_custom_scalars_layout_is_written(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run = logged_run(tmp_path)
    acc = EventAccumulator(str(run))
    acc.Reload()
    assert "custom_scalars__config__" in acc.Tags()["tensors"]


def test_version():
    res = CliRunner().invoke(cli, ["--version"])
    assert res.exit_code == 0 and lropt.__version__ in res.output


def test_inspect_table_and_png(tmp_path):
    _, run = logged_run(tmp_path)
    png = tmp_path / "lr.png"
    res = CliRunner().invoke(cli, ["inspect", str(run), "--png", str(png)])
    assert res.exit_code == 0, res.output
    assert "lropt/lr/pg0" in res.output and "lropt/multiplier/pg1" in res.output
    assert "features" not in res.output
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_inspect_errors_are_usage_errors(tmp_path):
    res = CliRunner().invoke(cli, ["inspect", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["inspect", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "no TensorBoard event files" in res.output
    assert "Traceback" not in res.output


def test_inspect_reads_comparison_overlays(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    for method, lr in (("constant", 1e-3), ("lropt", 2e-3)):
        w = SummaryWriter(str(tmp_path / "cmp" / method))
        for step in range(5):
            w.add_scalar("compare/lr", lr, step)
        w.close()
    png = tmp_path / "lr.png"
    res = CliRunner().invoke(cli, ["inspect", str(tmp_path / "cmp"), "--png", str(png)])
    assert res.exit_code == 0, res.output
    assert "constant:compare/lr" in res.output and "lropt:compare/lr" in res.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    other = SummaryWriter(str(tmp_path / "other"))
    other.add_scalar("loss", 1.0, 0)
    other.close()
    res = CliRunner().invoke(cli, ["inspect", str(tmp_path / "other")])
    assert res.exit_code == 2 and "no lropt scalars" in res.output
