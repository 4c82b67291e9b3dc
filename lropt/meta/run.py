"""A meta-training run on disk: ``DIR/recipe.toml``, ``DIR/checkpoint.pt``, ``DIR/controller.pt``, ``DIR/tb/``.

Checkpoints are written atomically (temporary file, fsync, rename) every
``outer.checkpoint_every`` steps, at the end, and when SIGINT/SIGTERM arrives
(the signal is honoured after the current outer step). ``resume=True``
continues from ``checkpoint.pt`` bit-exactly.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import time
from pathlib import Path

import torch

from ..controller_file import atomic_torch_save, save_controller
from .distributed import Shard, current_shard
from .recipe import Recipe, dump_toml, from_dict
from .trainer import MetaTrainer

CHECKPOINT_FORMAT = "lropt-meta-checkpoint"
CHECKPOINT_VERSION = 1


class RunError(RuntimeError):
    """A run directory problem the user must fix (exists, unwritable, mismatched resume)."""


class Interrupted(Exception):
    pass


def _check_writable(out: Path, rank: int = 0) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{rank}"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"output directory {str(out)!r} is not writable: {exc.strerror or exc}") from None


def save_checkpoint(path: Path, trainer_state: dict, recipe: Recipe, seed: int) -> None:
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "recipe": recipe.to_dict(),
               "seed": seed, "trainer": trainer_state}
    try:
        atomic_torch_save(payload, path)
    except OSError as exc:
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise RunError(f"could not write checkpoint {str(path)!r} ({reason}); the previous checkpoint is intact") from None


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise RunError(f"cannot resume: {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise RunError(f"cannot resume: checkpoint {str(path)!r} is unreadable ({exc.__class__.__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"cannot resume: {str(path)!r} is not an lropt meta-training checkpoint")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise RunError(f"cannot resume: checkpoint format version {payload.get('version')} "
                       f"(this lropt writes {CHECKPOINT_VERSION})")
    return payload


def strip_inner_runs(src: str | os.PathLike, dst: str | os.PathLike) -> tuple[int, int]:
    """Write ``src``'s checkpoint to ``dst`` without the inner runs; return both sizes in bytes.

    What stays is the controller, outer optimizer, best weights, counters, RNG states and
    validation baselines: a few hundred KiB instead of every run's parameters and optimizer
    state, so a run can move between machines. ``--resume`` from the result continues the
    outer loop with freshly drawn inner runs (not bit-exactly: the truncation state is gone).
    """
    payload = load_checkpoint(Path(src))
    trainer = payload["trainer"]
    payload["trainer"] = {**trainer, "groups": [None] * len(trainer["groups"])}
    try:
        atomic_torch_save(payload, Path(dst))
    except OSError as exc:
        raise RunError(f"could not write {str(dst)!r} ({exc.strerror or exc})") from None
    return Path(src).stat().st_size, Path(dst).stat().st_size


def _differs_beyond_budget(a: Recipe, b: Recipe) -> bool:
    da, db = a.to_dict(), b.to_dict()
    da["outer"].pop("steps")
    db["outer"].pop("steps")
    return da != db


@contextlib.contextmanager
def _signals_request_stop(flag: dict):
    """SIGINT/SIGTERM set ``flag['stop']``; the loop checkpoints and stops after the current step."""
    def handler(signum, frame):
        if flag.get("stop"):
            raise KeyboardInterrupt
        flag["stop"] = signal.Signals(signum).name

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class MetaRun:
    """Owns a run directory; ``train()`` runs the outer loop to ``recipe.outer.steps``.

    Under ``torch.distributed`` every rank builds a ``MetaRun`` on the same
    directory (each reads the checkpoint to resume); rank 0 alone writes.
    """

    def __init__(self, recipe: Recipe, out: str | os.PathLike, *, seed: int = 0, device=None,
                 resume: bool = False, log=None, shard: Shard | None = None):
        self.shard = shard or current_shard()
        self.out = Path(out)
        self.ckpt_path = self.out / "checkpoint.pt"
        self.log = log or (lambda msg: None)
        if resume:
            payload = load_checkpoint(self.ckpt_path)
            saved_recipe = from_dict(payload["recipe"])
            if _differs_beyond_budget(saved_recipe, recipe):
                self.log("resuming with the recipe saved in the checkpoint (only outer.steps may change on resume)")
                saved_recipe.outer.steps = recipe.outer.steps
                recipe = saved_recipe
            
            seed = payload["seed"]
        elif self.ckpt_path.exists():
            raise RunError(f"{str(self.out)!r} already holds a run (checkpoint.pt); pass --resume to continue it "
                           "or choose another --out")
        _check_writable(self.out, self.shard.rank)
        self.recipe, self.seed = recipe, seed
        self.trainer = MetaTrainer(recipe, seed=seed, device=device, shard=self.shard)
        if resume:
            self.trainer.load_state_dict(payload["trainer"])
        if self.shard.is_main:
            (self.out / "recipe.toml").write_text(dump_toml(recipe))
            if recipe.inner.groups < self.shard.world_size:
                self.log(f"warning: inner.groups={recipe.inner.groups} < {self.shard.world_size} processes; "
                         f"{self.shard.world_size - recipe.inner.groups} processes will have no run group")
        self._tb = None

    @property
    def tb(self):
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out / "tb"))
        return self._tb

    def checkpoint(self) -> None:
        """Write ``checkpoint.pt`` and ``controller.pt`` (a collective: every rank calls it, rank 0 writes)."""
        state = self.trainer.state_dict()
        if self.shard.is_main:
            save_checkpoint(self.ckpt_path, state, self.recipe, self.seed)
            self.write_controller()

    def write_controller(self) -> Path:
        c = self.trainer.counters
        meta = {"recipe": self.recipe.name, "seed": self.seed, "outer_step": c.outer_step,
                "best_step": c.best_step, "best_score": c.best_score}
        return save_controller(self.trainer.best_controller(), self.out / "controller.pt", metadata=meta)

    def _log_validation(self, result: dict, step: int) -> None:
        self.tb.add_scalar("val/score_vs_constant", result["score"], step)
        self.tb.add_scalar("val/score_vs_cosine", result["vs_cosine"], step)
        for cell in result["cells"]:
            tag = f"val/{cell['task']}/x{cell['lr_factor']:g}"
            self.tb.add_scalar(f"{tag}/controller", cell["controller"] if cell["controller"] < 1e30 else 1e30, step)
            self.tb.add_scalar(f"{tag}/constant", min(cell["constant"], 1e30), step)
        traces = result.get("traces") or {}
        if traces:
            self.tb.add_figure("val/lr_trajectory", _trace_figure(traces, step), step)

    def train(self, progress=None) -> dict:
        """Run to the recipe's outer step budget; returns a summary dict.

        Every rank calls it; rank 0 alone validates and writes TensorBoard and
        ``summary.json`` (``progress`` is only called there).
        """
        cfg, tr = self.recipe.outer, self.trainer
        flag: dict = {}
        t0, steps0, inner0 = time.perf_counter(), tr.counters.outer_step, tr.counters.inner_steps
        last_val = None
        with _signals_request_stop(flag):
            while tr.counters.outer_step < cfg.steps:
                info = tr.outer_step(stop=bool(flag.get("stop")))
                step = tr.counters.outer_step
                elapsed = max(time.perf_counter() - t0, 1e-9)
                rate = (tr.counters.inner_steps - inner0) / elapsed
                main = self.shard.is_main
                if main:
                    self.tb.add_scalar("meta/loss", info["meta_loss"], step)
                    self.tb.add_scalar("meta/grad_norm", info["grad_norm"], step)
                    self.tb.add_scalar("meta/inner_steps_per_s", rate, step)
                    self.tb.add_scalar("meta/diverged_runs", tr.counters.diverged_runs, step)
                if main and (step % cfg.eval_every == 0 or step == cfg.steps):
                    result = tr.validate()
                    last_val = result["score"]
                    self._log_validation(result, step)
                if main and progress is not None:
                    progress(step, cfg.steps, info["meta_loss"], last_val, rate)
                if step % cfg.checkpoint_every == 0 or step == cfg.steps or info["stop"]:
                    self.checkpoint()
                if info["stop"]:
                    if main:
                        self.tb.flush()
                    raise Interrupted(flag.get("stop") or "stop requested on another rank")
        c = tr.counters
        summary = {"outer_steps": c.outer_step, "best_score_vs_constant": c.best_score, "best_step": c.best_step,
                   "diverged_runs": c.diverged_runs, "skipped_updates": c.skipped_updates,
                   "inner_steps": c.inner_steps, "steps_this_session": c.outer_step - steps0,
                   "seconds_this_session": time.perf_counter() - t0, "history": c.history}
        if not self.shard.is_main:
            return summary
        self.tb.flush()
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _trace_figure(traces: dict, step: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, lrs in traces.items():
        ax.plot(lrs, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("inner step")
    ax.set_ylabel("LR")
    ax.set_title(f"validation task 0, outer step {step}")
    ax.legend()
    fig.tight_layout()
    return fig
