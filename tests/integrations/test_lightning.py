"""Lightning: configure_optimizers returns the wrapper and its scheduler facade; a few CPU steps."""
import math

import pytest
import torch

L = pytest.importorskip("lightning.pytorch")

from integ_util import ObserveSpy, active_controller  # noqa: E402

from lropt import LROptimizerWrapper  # noqa: E402
from lropt.integrations.lightning import LROptCallback  # noqa: E402

STEPS = 6

pytestmark = [
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)`"),
    pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`"),
]


def loader(n, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 6, generator=g), torch.randn(n, 3, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


class Module(L.LightningModule):
    def __init__(self, manual=False, total_steps=STEPS):
        super().__init__()
        self.total_steps = total_steps
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
        self.automatic_optimization = not manual
        self.train_losses, self.val_seen = [], []
        self.wrapper = None

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.train_losses.append(loss.item())
        if self.automatic_optimization:
            return loss
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()  # no closure loss: the callback feeds observe(loss=...)
        self.lr_schedulers().step()

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self.val_seen.append(float(self.trainer.callback_metrics.get("val_loss", float("nan"))))

    def configure_optimizers(self):
        self.wrapper = LROptimizerWrapper(torch.optim.AdamW(self.parameters(), lr=1e-2),
                                          controller=active_controller(), total_steps=self.total_steps)
        self.spy = ObserveSpy(self.wrapper)
        return {"optimizer": self.wrapper,
                "lr_scheduler": {"scheduler": self.wrapper.as_scheduler(), "interval": "step"}}


def fit(module, tmp_path, callbacks=()):
    trainer = L.Trainer(max_steps=STEPS, accelerator="cpu", devices=1, val_check_interval=3,
                        num_sanity_val_steps=1, limit_val_batches=2, log_every_n_steps=1,
                        logger=L.loggers.CSVLogger(str(tmp_path)), enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=list(callbacks))
    trainer.fit(module, loader(96, 1), loader(16, 2))
    return trainer


def test_configure_optimizers_dict_works_without_callback(tmp_path):
    module = Module()
    trainer = fit(module, tmp_path)
    w = module.wrapper
    assert trainer.global_step == STEPS and w._ticks == STEPS
    # the closure path: the wrapper took the loss from the closure
    assert w._feat["loss_last"][0].item() == pytest.approx(math.log(module.train_losses[-1]), rel=1e-5)
    sched = trainer.lr_scheduler_configs[0].scheduler
    assert sched.get_last_lr() == w.get_last_lr()


def test_callback_feeds_val_loss_and_logs_effective_lr(tmp_path):
    module = Module()
    trainer = fit(module, tmp_path, [LROptCallback()])
    w = module.wrapper
    assert trainer.global_step == STEPS and w._ticks == STEPS
    # validation losses fed after each validation run, not after the sanity check
    assert len(module.val_seen) == 2
    assert module.spy.val_losses == pytest.approx(module.val_seen)
    # effective LR logged (LearningRateMonitor would show the base LR)
    assert trainer.logged_metrics["lropt/lr/pg0"].item() == pytest.approx(w.get_last_lr()[0], rel=1e-6)
    assert w.get_last_lr()[0] != pytest.approx(1e-2)


def test_callback_gives_a_wrapper_without_total_steps_the_run_length(tmp_path):
    from lropt.features import FEATURE_NAMES

    module = Module(total_steps=None)
    fit(module, tmp_path / "a", [LROptCallback()])
    assert module.wrapper.total_steps == STEPS
    assert module.wrapper.last_features[0, FEATURE_NAMES.index("has_progress")].item() == 1.0
    module = Module(total_steps=None)
    fit(module, tmp_path / "b", [LROptCallback(total_steps=False)])
    assert module.wrapper.total_steps is None


def test_in_the_closure_path_the_loss_the_callback_feeds_wins(tmp_path, monkeypatch):
    """Lightning runs on_before_optimizer_step inside the closure, so the callback's observe(loss=...) (the
    rank average under DDP) reaches the wrapper before the closure returns and is used instead of the
    closure's local loss. Here the 'average' is marked (x 2) to tell the two apart."""
    import lropt.integrations.lightning as lightning_module

    monkeypatch.setattr(lightning_module, "_mean_or_none", lambda value, device: None if value is None else value * 2)
    module = Module()
    fit(module, tmp_path, [LROptCallback()])
    assert module.wrapper._ticks == STEPS
    assert module.wrapper._feat["loss_last"][0].item() == pytest.approx(math.log(2 * module.train_losses[-1]),
                                                                          rel=1e-5)


def test_manual_optimization_gets_loss_from_callback(tmp_path):
    module = Module(manual=True)
    trainer = L.Trainer(max_steps=STEPS, accelerator="cpu", devices=1, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[LROptCallback(log_lr=False)])
    trainer.fit(module, loader(96, 1))
    w = module.wrapper
    assert w._ticks == STEPS
    assert module.spy.losses == pytest.approx(module.train_losses)  # fed before every step
    assert w._feat["loss_last"][0].item() == pytest.approx(math.log(module.train_losses[-1]), rel=1e-5)
