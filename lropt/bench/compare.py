"""``compare``: lropt against LR schedules and LR-free optimizers, following MEASURING.md.

Two regimes (``regime="defaults"``, ``"tuned"`` or ``"both"``):

- *defaults*: every method at ``task.base_lr(optimizer) * factor``;
- *tuned*: each baseline's base LR is first tuned on a log grid
  (``tune_grid_points`` points half a decade apart, centred on the task's
  default) by the median final validation loss over ``tune_seeds`` seeds that
  are never used again; the cells then run at ``tuned LR * factor`` with the
  comparison seeds. lropt is never tuned: it runs at ``default * factor`` in
  both regimes (the same runs).

``lr_factors`` put the base LR off by that factor, the robustness check. Every
run of a (task, method) uses the same init seeds, data order and step budget.
Identical runs (same task, method, base LR, seed and steps) are trained once; with a ``journal`` they are
kept on disk too, so a killed comparison resumes (:mod:`lropt.bench.journal`).

The result is a plain dict (see :mod:`lropt.bench.summary` for its task
entries); :mod:`lropt.bench.report` renders it.
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import importlib.util
import math
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .._version import __version__
from ..controller_file import resolve_controller
from ..schedules import METHODS, OPTIMIZERS, SCHEDULES, unknown_name_error
from ..tasks import get_task
from ..tasks.base import Task
from .journal import RunJournal, controller_digest, environment, run_key
from .runner import LROPT, RunResult, check_method, run_method
from .stats import median
from .summary import summarize_all, summarize_task

REGIMES = ("defaults", "tuned", "both")
#: Seeds for LR tuning start here, so the comparison seeds are fresh.
TUNE_SEED_OFFSET = 10_000
#: Grid spacing in decades ("half a decade apart").
GRID_SPACING = 0.5
#: Packages the optimizer-replacing baselines need (None: ships with lropt).
_REQUIRES = {"schedulefree": "schedulefree", "prodigy": "prodigyopt", "hypergradient": None}

Progress = Callable[[int, int, str], None]


# ------------------------------------------------------------------------------ names


def method_available(method: str) -> bool:
    """Is ``method`` usable here (its optional package installed)?"""
    package = _REQUIRES.get(method)
    return package is None or importlib.util.find_spec(package) is not None


def default_methods() -> list[str]:
    """Every classic schedule, plus schedule-free, Prodigy and hypergradient where installed."""
    return [m for m in METHODS if m in SCHEDULES or method_available(m)]


def resolve_methods(methods: Sequence[str] | None) -> list[str]:
    """``"lropt"`` first, then the baselines asked for (default: :func:`default_methods`), deduplicated."""
    chosen = default_methods() if methods is None else list(methods)
    out = [LROPT]
    for m in chosen:
        check_method(m)
        if not method_available(m):
            raise ValueError(f"method {m!r} needs the package {_REQUIRES[m]!r}, which is not installed")
        if m not in out:
            out.append(m)
    return out


def resolve_task(task: Task | str) -> Task:
    """A Task as given, or the registry's task of that name (unknown: ValueError with close matches)."""
    if isinstance(task, Task):
        return task
    return get_task(task)


def lr_grid(centre: float, points: int, spacing: float = GRID_SPACING) -> list[float]:
    """``points`` LRs ``spacing`` decades apart, centred (in log) on ``centre``."""
    if points < 1:
        raise ValueError(f"tune_grid_points must be >= 1, got {points}")
    half = (points - 1) / 2
    return [centre * 10 ** (spacing * (k - half)) for k in range(points)]


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds}")
        return list(range(seeds))
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct ints, got {seeds}")
    return seeds


def _check_args(regime, optimizer, lr_factors, tune_grid_points, tune_seeds, steps, eval_every) -> None:
    if regime not in REGIMES:
        raise unknown_name_error("regime", regime, REGIMES)
    if optimizer not in OPTIMIZERS:
        raise unknown_name_error("optimizer", optimizer, OPTIMIZERS)
    if not lr_factors or any(not (math.isfinite(f) and f > 0) for f in lr_factors):
        raise ValueError(f"lr_factors must be positive numbers, got {list(lr_factors)}")
    for name, value in (("tune_grid_points", tune_grid_points), ("tune_seeds", tune_seeds)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    for name, value in (("steps", steps), ("eval_every", eval_every)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


# ------------------------------------------------------------------------------ running


class _Runner:
    """Runs training jobs once each (cached by task, method, base LR, seed, steps and evaluation interval; kept in
    ``journal`` as they finish when one is given) and reports progress."""

    def __init__(self, *, optimizer, controller, device, progress: Progress | None, divergence_factor: float,
                 tell_total_steps: bool = True, lropt_every: int = 1, journal: RunJournal | None = None,
                 threads: int | None = None):
        self.optimizer, self.controller, self.device = optimizer, controller, device
        self.tell_total_steps, self.lropt_every = tell_total_steps, lropt_every
        self.divergence_factor = divergence_factor
        self.progress = progress or (lambda done, total, label: None)
        self.cache: dict[tuple, RunResult] = {}
        self.journal, self.kept = journal, 0
        if journal is not None:
            self.env = environment(device=device, threads=threads)
            self.lropt_settings = {"controller": controller_digest(controller), "tell_total_steps": tell_total_steps,
                                   "lropt_every": lropt_every}
        self.done, self.total = 0, 0
        self.before_first_run = None   # called once, just before the first run that is not kept

    def key(self, task: Task, method: str, lr: float, seed: int, steps: int, eval_every: int) -> tuple:
        return (task.name, method, float(f"{lr:.12g}"), seed, steps, eval_every)

    def _journal_key(self, task: Task, method: str, lr: float, seed: int, steps: int, eval_every: int) -> str:
        return run_key(self.env, task=task, method=method, optimizer=self.optimizer, base_lr=lr, seed=seed,
                       steps=steps, eval_every=eval_every, divergence_factor=self.divergence_factor,
                       lropt_settings=self.lropt_settings)

    def has(self, task: Task, method: str, lr: float, seed: int, steps: int, eval_every: int) -> bool:
        """Whether this run is done already (this session, or kept in the journal)."""
        if self.key(task, method, lr, seed, steps, eval_every) in self.cache:
            return True
        return self.journal is not None and self._journal_key(task, method, lr, seed, steps, eval_every) in \
            self.journal

    def run(self, task: Task, method: str, lr: float, seed: int, steps: int, eval_every: int) -> RunResult:
        key = self.key(task, method, lr, seed, steps, eval_every)
        if key not in self.cache and self.journal is not None:
            jkey = self._journal_key(task, method, lr, seed, steps, eval_every)
            kept = self.journal.get(jkey)
            if kept is not None:
                self.cache[key] = kept
                self.kept += 1
        if key not in self.cache:
            if self.before_first_run is not None:
                first, self.before_first_run = self.before_first_run, None
                first()
            self.progress(self.done, self.total, f"{task.name} {method} lr={lr:.3g} seed={seed}")
            self.cache[key] = run_method(
                task, method, base_lr=lr, steps=steps, seed=seed, optimizer=self.optimizer,
                controller=self.controller if method == LROPT else None, eval_every=eval_every,
                device=self.device, lr_every=max(1, steps // 500), divergence_factor=self.divergence_factor,
                tell_total_steps=self.tell_total_steps, lropt_every=self.lropt_every,
            )
            if self.journal is not None:
                self.journal.record(jkey, self.cache[key])
            self.done += 1
            self.progress(self.done, self.total, f"{task.name} {method} lr={lr:.3g} seed={seed}")
        return self.cache[key]


def _tune(runner: _Runner, task: Task, method: str, default_lr: float, grid_points: int, seeds: list[int],
          steps: int, eval_every: int) -> dict:
    """Grid-search ``method``'s base LR by the median final validation loss over ``seeds``."""
    grid = lr_grid(default_lr, grid_points)
    medians, runs = [], []
    for lr in grid:
        results = [runner.run(task, method, lr, s, steps, eval_every) for s in seeds]
        medians.append(median([r.final_val_loss for r in results]))
        runs += [r.summary() for r in results]
    finite = [i for i, m in enumerate(medians) if math.isfinite(m)]
    best = min(finite, key=lambda i: medians[i]) if finite else None
    return {
        "grid": grid, "seeds": seeds, "median_final_val_loss": medians,
        "best_lr": grid[best] if best is not None else default_lr,
        "best_index": best, "fallback_to_default": best is None,
        "at_edge": best is not None and grid_points > 1 and best in (0, grid_points - 1),
        "runs": runs,
    }


def _warm_up(runner: _Runner, task: Task, methods: Sequence[str]) -> None:
    """Two untimed steps of every method, so one-off costs (lazy imports, first kernels) skew no run's wall-clock.
    Run before the first run that is not kept (none when every run is kept)."""
    for m in methods:
        run_method(task, m, base_lr=task.base_lr(runner.optimizer), steps=2, seed=0, optimizer=runner.optimizer,
                   controller=runner.controller if m == LROPT else None, eval_every=2, device=runner.device)


def _centre_factor(lr_factors: Sequence[float]) -> float:
    """The factor closest to 1 in log scale: the "at its base LR" cell."""
    return min(lr_factors, key=lambda f: abs(math.log(f)))


def _count_final_runs(runner: _Runner, task, methods, regimes, lr_factors, seeds, lrs, steps, eval_every) -> int:
    runs = {(m, lrs[r][m] * f, s) for r in regimes for f in lr_factors for m in methods for s in seeds}
    return sum(not runner.has(task, m, lr, s, steps, eval_every) for m, lr, s in runs)


def _run_task(runner: _Runner, task: Task, *, methods, regimes, lr_factors, seeds, tune_grid_points,
              tune_seeds, steps, eval_every, later_runs: int) -> dict:
    """Tune (if asked), then run every (regime, factor, method, seed) of one task.

    ``later_runs`` (planned runs of the tasks after this one) keeps the
    progress total honest once this task's exact count is known.
    """
    default_lr = task.base_lr(runner.optimizer)
    steps = steps or task.default_steps
    eval_every = eval_every or max(1, steps // 25)
    baselines = [m for m in methods if m != LROPT]
    tuning = {}
    if "tuned" in regimes:
        t_seeds = [TUNE_SEED_OFFSET + i for i in range(tune_seeds)]
        tuning = {m: _tune(runner, task, m, default_lr, tune_grid_points, t_seeds, steps, eval_every)
                  for m in baselines}
    lrs = {"defaults": {m: default_lr for m in methods},
           "tuned": {m: tuning[m]["best_lr"] if m in tuning else default_lr for m in methods}}
    runner.total = runner.done + _count_final_runs(runner, task, methods, regimes, lr_factors, seeds, lrs, steps,
                                                   eval_every) + later_runs
    cells = {}
    for regime in regimes:
        for f in lr_factors:
            for m in methods:
                lr = lrs[regime][m] * f
                cells[(regime, f, m)] = (lr, [runner.run(task, m, lr, s, steps, eval_every) for s in seeds])
    return {"task": task, "steps": steps, "eval_every": eval_every, "default_lr": default_lr,
            "tuning": tuning, "cells": cells}


def _run_all(runner: _Runner, task_objs: list[Task], *, steps, eval_every, threads, **plan) -> tuple[list, float]:
    """Every task's runs (raw), and the wall-clock they took."""
    runner.total = _planned_runs(len(task_objs), **plan)
    start = time.perf_counter()
    raw = []
    with _threads(threads):
        runner.before_first_run = functools.partial(_warm_up, runner, task_objs[0], plan["methods"])
        for i, task in enumerate(task_objs):
            later = _planned_runs(len(task_objs) - i - 1, **plan)
            raw.append(_run_task(runner, task, steps=steps, eval_every=eval_every, later_runs=later, **plan))
    return raw, time.perf_counter() - start


def _planned_runs(n_tasks_left: int, methods, regimes, lr_factors, seeds, tune_grid_points, tune_seeds) -> int:
    """Upper bound on the runs for ``n_tasks_left`` tasks (before tuning fixes the LRs and duplicates)."""
    per_task = len(regimes) * len(lr_factors) * len(methods) * len(seeds)
    if "tuned" in regimes:
        per_task += (len(methods) - 1) * tune_grid_points * tune_seeds
    return n_tasks_left * per_task


@contextlib.contextmanager
def _threads(n: int | None):
    """Use ``n`` torch CPU threads inside the block (unchanged when ``None``)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _describe_controller(spec, ctrl) -> dict:
    name = spec if isinstance(spec, str) else type(spec).__name__ if spec is not None else None
    return {"spec": name, "identity": ctrl is None or ctrl.is_identity(),
            "metadata": dict(getattr(ctrl, "metadata", {}) or {}) if ctrl is not None else {}}


def compare(tasks: Sequence[Task | str], *, controller="default", methods: Sequence[str] | None = None,
            seeds: int | Sequence[int] = 5, optimizer: str = "adamw",
            lr_factors: Sequence[float] = (0.1, 1.0, 10.0), regime: str = "defaults",
            tune_grid_points: int = 7, tune_seeds: int = 3, steps: int | None = None,
            eval_every: int | None = None, device=None, progress: Progress | None = None,
            threads: int | None = None, rel_tol: float = 0.01, divergence_factor: float = 2.0,
            tell_total_steps: bool = True, lropt_every: int = 1, journal: str | Path | None = None,
            fresh: bool = False) -> dict:
    """Run the comparison on ``tasks`` (Task objects or registry names) and return every result.

    ``methods`` are the baselines (default :func:`default_methods`); lropt is
    always included, with ``controller`` (``"default"``, ``"identity"``, a
    path, an :class:`~lropt.LRController` or ``None``). ``seeds`` is a count or
    a list of init seeds. ``steps`` / ``eval_every`` default to each task's
    ``default_steps`` and ``steps // 25``. ``progress(done, total, label)`` is
    called before and after every run (``total`` grows to its exact value once
    tuning has fixed the LRs). ``threads`` sets torch's CPU threads for the
    duration. ``rel_tol`` is the "matches within" tolerance (1%).
    ``divergence_factor``: a run stops as diverged when its training loss
    exceeds this multiple of its first loss (``math.inf``: only on NaN/inf).
    ``tell_total_steps=False``: lropt's wrapper is not told the run length (no
    progress feature), as in a training loop that does not pass ``total_steps``.
    ``lropt_every``: the wrapper's ``every`` (the controller runs every N steps, as users are told to
    set for large models). ``journal``: a file (:mod:`lropt.bench.journal`) that keeps every finished run,
    so the same call after a kill runs only what is missing; ``fresh=True`` empties it first. A journal
    another comparison is writing to raises :class:`~lropt.bench.journal.JournalBusy`.
    """
    _check_args(regime, optimizer, lr_factors, tune_grid_points, tune_seeds, steps, eval_every)
    if not divergence_factor > 1:
        raise ValueError(f"divergence_factor must be > 1, got {divergence_factor}")
    if not (isinstance(lropt_every, int) and lropt_every >= 1):
        raise ValueError(f"lropt_every must be an int >= 1, got {lropt_every!r}")
    task_objs = [resolve_task(t) for t in tasks]
    if not task_objs:
        raise ValueError("no tasks given")
    names = [t.name for t in task_objs]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be distinct, got {names}")
    methods = resolve_methods(methods)
    seed_list = _seed_list(seeds)
    lr_factors = [float(f) for f in lr_factors]
    regimes = ["defaults", "tuned"] if regime == "both" else [regime]
    ctrl = resolve_controller(controller)
    with RunJournal(journal, fresh=fresh) if journal is not None else contextlib.nullcontext() as run_journal:
        runner = _Runner(optimizer=optimizer, controller=ctrl, device=device, progress=progress,
                         divergence_factor=divergence_factor, tell_total_steps=tell_total_steps,
                         lropt_every=lropt_every, journal=run_journal, threads=threads)
        raw, wall_s = _run_all(runner, task_objs, steps=steps, eval_every=eval_every, threads=threads,
                               methods=methods, regimes=regimes, lr_factors=lr_factors, seeds=seed_list,
                               tune_grid_points=tune_grid_points, tune_seeds=tune_seeds)
    tasks_out = {r["task"].name: summarize_task(r, centre=_centre_factor(lr_factors), rel_tol=rel_tol) for r in raw}
    meta = {
        "lropt_version": __version__, "torch_version": torch.__version__, "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()} ({platform.processor() or 'cpu'})",
        "device": str(device or "cpu"), "threads": torch.get_num_threads() if threads is None else threads,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "controller": _describe_controller(controller, ctrl), "optimizer": optimizer, "methods": methods,
        "seeds": seed_list, "regime": regime, "regimes": regimes, "lr_factors": lr_factors,
        "tune_grid_points": tune_grid_points, "tune_seeds": tune_seeds, "grid_spacing_decades": GRID_SPACING,
        "rel_tol": rel_tol, "divergence_factor": divergence_factor, "tell_total_steps": tell_total_steps,
        "lropt_every": lropt_every, "runs": runner.done, "kept_runs": runner.kept,
        "damaged_journal_lines": run_journal.damaged if run_journal is not None else 0,
        "wall_s": wall_s,
    }
    return {"meta": meta, "tasks": tasks_out, "summary": summarize_all(tasks_out, regimes, rel_tol)}


__all__ = ["compare", "default_methods", "resolve_methods", "resolve_task", "lr_grid", "method_available", "REGIMES"]
