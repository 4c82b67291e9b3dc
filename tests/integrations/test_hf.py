"""HF Trainer: a real Trainer on a tiny config-built BERT, a few CPU steps."""
import math

import pytest
import torch

transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
pytest.importorskip("accelerate")  # the Trainer needs it

from integ_util import ObserveSpy, active_controller  # noqa: E402

from lropt import LROptimizerWrapper  # noqa: E402
from lropt.integrations.hf import LROptCallback  # noqa: E402

STEPS = 6


def tiny_bert(seed=0):
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)
    return transformers.BertForSequenceClassification(config)


def tiny_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    return datasets.Dataset.from_dict({
        "input_ids": torch.randint(0, 64, (n, 8), generator=g).tolist(),
        "attention_mask": torch.ones(n, 8, dtype=torch.long).tolist(),
        "labels": torch.randint(0, 2, (n,), generator=g).tolist(),
    })


class Recorder(transformers.TrainerCallback):
    """Records, after each optimizer step, the wrapper's effective LR and tick count."""

    def __init__(self, wrapper):
        self.wrapper, self.lrs, self.ticks = wrapper, {}, {}

    def on_step_end(self, args, state, control, **kwargs):
        self.lrs[state.global_step] = self.wrapper.get_last_lr()[0]
        self.ticks[state.global_step] = self.wrapper._ticks


def make_trainer(tmp_path, wrapper, model, callbacks, **overrides):
    kwargs = dict(output_dir=str(tmp_path / "out"), max_steps=STEPS, per_device_train_batch_size=8,
                  per_device_eval_batch_size=16, logging_steps=1, eval_strategy="steps", eval_steps=3,
                  save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
                  disable_tqdm=True, seed=0)
    kwargs.update(overrides)
    args = transformers.TrainingArguments(**kwargs)
    return transformers.Trainer(model=model, args=args, train_dataset=tiny_data(64, 1), eval_dataset=tiny_data(16, 2),
                                optimizers=(wrapper, wrapper.as_scheduler()), callbacks=callbacks)


def test_trainer_logs_effective_lr_and_feeds_losses(tmp_path):
    from lropt.logging import read_scalars

    model = tiny_bert()
    wrapper = LROptimizerWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3), controller=active_controller(),
                                 total_steps=STEPS)
    spy = ObserveSpy(wrapper)
    rec = Recorder(wrapper)
    cb = LROptCallback(log_dir=tmp_path / "tb")
    trainer = make_trainer(tmp_path, wrapper, model, [rec, cb])
    trainer.train()
    cb.close()

    # the controller ticked once per optimizer step
    assert trainer.state.global_step == STEPS
    assert wrapper._ticks == STEPS
    assert [rec.ticks[s] for s in range(1, STEPS + 1)] == list(range(1, STEPS + 1))

    # the logged learning_rate is the controller's effective LR, step by step
    logged = {h["step"]: h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h}
    assert sorted(logged) == list(range(1, STEPS + 1))
    for step, lr in logged.items():
        assert lr == rec.lrs[step]
    assert logged[STEPS] == wrapper.get_last_lr()[0]
    assert not all(math.isclose(lr, 1e-3) for lr in logged.values()), "the controller should move the LR"

    # training loss fed before every optimizer step; it is the loss the Trainer logs
    assert len(spy.losses) == STEPS
    train_logged = [h["loss"] for h in trainer.state.log_history if "loss" in h and "eval_loss" not in h]
    assert spy.losses == pytest.approx(train_logged, rel=1e-5)
    # evaluation loss fed at each evaluation (steps 3 and 6)
    eval_logged = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    assert len(eval_logged) == 2 and spy.val_losses == pytest.approx(eval_logged)

    # lropt TensorBoard scalars at every Trainer log
    scalars = read_scalars(tmp_path / "tb")
    lr_rows = dict(scalars["lropt/lr/pg0"])
    assert sorted(lr_rows) == list(range(1, STEPS + 1))
    assert lr_rows[STEPS] == pytest.approx(wrapper.get_last_lr()[0], rel=1e-6)
    assert "lropt/multiplier/pg0" in scalars and "lropt/features/loss_vs_slow" in scalars


def test_callback_gives_a_wrapper_without_total_steps_the_run_length(tmp_path):
    from lropt.features import FEATURE_NAMES

    for fill, expected in ((True, STEPS), (False, None)):
        model = tiny_bert()
        wrapper = LROptimizerWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3), controller=active_controller())
        make_trainer(tmp_path / str(fill), wrapper, model, [LROptCallback(total_steps=fill)]).train()
        assert wrapper.total_steps == expected
        assert wrapper.last_features[0, FEATURE_NAMES.index("has_progress")].item() == float(fill)


def test_gradient_accumulation_feeds_the_logged_loss_once_per_step(tmp_path):
    model = tiny_bert()
    wrapper = LROptimizerWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3), controller=active_controller())
    spy = ObserveSpy(wrapper)
    trainer = make_trainer(tmp_path, wrapper, model, [LROptCallback()], max_steps=3,
                           gradient_accumulation_steps=2, per_device_train_batch_size=4, eval_strategy="no")
    trainer.train()
    assert wrapper._ticks == trainer.state.global_step == 3
    train_logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert spy.losses == pytest.approx(train_logged, rel=1e-5)


def test_scaler_skipped_step_does_not_tick(tmp_path):
    """A step the GradScaler skips (inf gradient) never reaches the wrapper."""
    model = tiny_bert()
    wrapper = LROptimizerWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3), controller=active_controller(),
                                 total_steps=STEPS)
    rec = Recorder(wrapper)
    poison = {"on": False}

    class Poison(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            poison["on"] = state.global_step == 2  # the third optimizer step

    weight = model.classifier.weight
    weight.register_hook(lambda g: torch.full_like(g, float("inf")) if poison["on"] else g)
    trainer = make_trainer(tmp_path, wrapper, model, [rec, Poison(), LROptCallback()],
                           max_grad_norm=0.0, eval_strategy="no")
    # A CPU GradScaler in accelerate's place (accelerate only builds one for fp16 on an accelerator);
    # the Trainer prepares the optimizer in train(), so AcceleratedOptimizer gets this scaler.
    trainer.accelerator.scaler = torch.amp.GradScaler("cpu")
    trainer.train()

    assert trainer.state.global_step == STEPS
    assert wrapper._ticks == STEPS - 1
    assert rec.ticks[2] == 2 and rec.ticks[3] == 2  # step 3 skipped: no tick
    logged = {h["step"]: h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h}
    assert logged[3] == logged[2] == rec.lrs[2]  # the skipped step left the LR alone
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_example_parses_its_arguments(capsys):
    """The MiniLM example is too slow for the suite (minutes); check that it loads and parses."""
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "hf_trainer_minilm.py"
    module = runpy.run_path(str(path), run_name="example")
    with pytest.raises(SystemExit) as exit_info:
        module["main"](["--help"])
    assert exit_info.value.code == 0
    assert "--max-steps" in capsys.readouterr().out


def test_resume_from_checkpoint_continues_the_lr_trajectory(tmp_path):
    """The Trainer checkpoints optimizer.state_dict() (with the controller state) and restores it."""

    def run(out, **kw):
        model = tiny_bert()
        wrapper = LROptimizerWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3), controller=active_controller(),
                                     total_steps=STEPS)
        rec = Recorder(wrapper)
        trainer = make_trainer(out, wrapper, model, [rec, LROptCallback()], eval_strategy="no",
                               save_strategy="steps", save_steps=3)
        trainer.train(**kw)
        return wrapper, rec

    full, full_rec = run(tmp_path / "a")
    resumed, rec = run(tmp_path / "b", resume_from_checkpoint=str(tmp_path / "a" / "out" / "checkpoint-3"))
    assert resumed._ticks == full._ticks == STEPS
    assert [rec.lrs[s] for s in (4, 5, 6)] == [full_rec.lrs[s] for s in (4, 5, 6)]
