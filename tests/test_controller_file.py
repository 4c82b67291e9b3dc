"""Controller files: round trip, shipped names, and refusal of bad files with the reason."""
import math

import pytest
import torch

import lropt
from lropt import LRController, load_controller, save_controller
from lropt import controller_file as cf
from common import active_controller


@pytest.mark.parametrize("kwargs", [{"hidden_size": 16, "cell": "lstm"}, {"start_log_mult": -1.5}])
def test_round_trip(tmp_path, kwargs):
    ctrl = active_controller(**kwargs)
    path = save_controller(ctrl, tmp_path / "c.pt", metadata={"recipe": "x"})
    back = load_controller(path)
    assert back.config == ctrl.config
    assert back.metadata == {"recipe": "x"}
    for (k, a), (_, b) in zip(ctrl.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k


def test_shipped_controllers_load():
    shipped = lropt.shipped_controllers()
    assert {"default", "identity"} <= set(shipped)
    for name, path in shipped.items():
        ctrl = load_controller(path)
        assert isinstance(ctrl, LRController), name
    assert load_controller(shipped["identity"]).is_identity()
    # the README's promise: the default starts at 0.3x the base LR (warm-up start); default-v1 at 1x
    assert math.exp(load_controller(shipped["default"]).config["start_log_mult"]) == pytest.approx(0.3, rel=1e-5)
    assert "start_log_mult" not in load_controller(shipped["default-v1"]).config
    # the default is the generation-2 weights (default-v2) with the overfitting guard on
    default, v2 = load_controller(shipped["default"]), load_controller(shipped["default-v2"])
    assert default.config["overfit_guard"] == pytest.approx(0.03) and "overfit_guard" not in v2.config
    for (k, a), (_, b) in zip(default.state_dict().items(), v2.state_dict().items()):
        assert torch.equal(a, b), k


def _payload(**changes):
    p = {
        "format": cf.FORMAT,
        "format_version": cf.FORMAT_VERSION,
        "feature_spec": lropt.features.feature_spec(),
        "config": dict(LRController().config),
        "state_dict": LRController().state_dict(),
        "metadata": {},
    }
    p.update(changes)
    return p


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "no such file"),
        (b"not a torch file at all", "not a readable torch file"),
        ({"hello": 1}, "not an lropt controller file"),
        (_payload(format_version=99), "newer lropt"),
        (_payload(format_version=0), "invalid format_version"),
        (_payload(feature_spec={"version": 0, "names": ["loss"]}), "feature spec"),
        (_payload(config=dict(LRController().config, hidden_size=8)), "weights do not match"),
    ],
)
def test_bad_files_are_refused_with_reason(tmp_path, content, reason):
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(ValueError, match=reason) as info:
        load_controller(path)
    assert str(path) in str(info.value)


def test_truncated_file_is_refused(tmp_path):
    good = save_controller(LRController(), tmp_path / "c.pt")
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_controller(good)


def test_save_is_atomic_and_leaves_no_temp(tmp_path):
    save_controller(LRController(), tmp_path / "c.pt")
    save_controller(active_controller(), tmp_path / "c.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_wrapper_accepts_a_path(tmp_path):
    path = save_controller(active_controller(), tmp_path / "c.pt")
    model = torch.nn.Linear(3, 1)
    opt = lropt.LROptimizerWrapper(torch.optim.SGD(model.parameters(), lr=0.1), controller=str(path))
    assert not opt.controller.is_identity()
    with pytest.raises(ValueError, match="no such file"):
        lropt.LROptimizerWrapper(torch.optim.SGD(model.parameters(), lr=0.1), controller=tmp_path / "missing.pt")


def test_controller_validates_config():
    with pytest.raises(ValueError, match="cell"):
        LRController(cell="rnn")
    with pytest.raises(ValueError, match="max_log_step"):
        LRController(max_log_step=0)


@pytest.mark.parametrize("version, inputs", [(1, 9), (2, 10)])
def test_an_older_feature_spec_file_loads_and_computes_what_it_did(tmp_path, version, inputs):
    """Files from before ``grad_align`` (spec 1) or ``val_vs_best`` (spec 2) load with zero columns for the
    features added since: same outputs, new inputs ignored."""
    torch.manual_seed(0)
    old = LRController(num_features=inputs)
    with torch.no_grad():
        for p in old.parameters():
            p.normal_(0, 0.5)
    payload = _payload(feature_spec={"version": version, "names": list(lropt.features.FEATURE_NAMES[:inputs])},
                       config=dict(old.config), state_dict=old.state_dict())
    torch.save(payload, tmp_path / "old.pt")
    new = load_controller(tmp_path / "old.pt")
    assert new.config["num_features"] == lropt.features.num_features() == 11
    torch.manual_seed(1)
    feats = torch.randn(3, 11)
    with torch.no_grad():
        a = old(feats[:, :inputs], old.init_state(3))
        b = new(feats, new.init_state(3))
    # equal up to float rounding: the wider matmul may sum in another order (it did, once, in CI)
    torch.testing.assert_close(b["log_mult"], a["log_mult"])
    assert b["log_mult"].abs().max() > 0.01
    # an old file whose names differ is still refused
    bad = dict(payload, feature_spec={"version": version, "names": ["x"] * inputs})
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="feature spec"):
        load_controller(tmp_path / "bad.pt")
