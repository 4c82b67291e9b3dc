"""The outer loop: sample run groups, estimate meta-gradients over truncations, update the controller.

Everything needed to continue a run bit-exactly — controller, outer optimizer,
RNG states, the persistent run groups (the truncation state), the best
controller so far — goes into ``checkpoint.pt``; the deployable
``controller.pt`` holds the best controller only (see
:mod:`lropt.controller_file`).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..controller import LRController
from ..tasks import get_family, get_task
from ..tasks.base import Task, TaskFamily
from ..tasks.seeding import seeded_global_rng
from .distributed import Shard, all_reduce_sum, current_shard, gather_to_main
from .estimators import pes, tbptt
from .evaluate import Validator
from .inner_optim import inner_optimizer
from .recipe import Recipe
from .unroll import RunGroup, map_tensors, start_group

VALIDATION_SEED = 9_000_001  # validation tasks are drawn from their own stream, never from training's


@dataclass
class GroupSpec:
    """What rebuilds a run group: its task draw, optimizer, base LRs, init seeds, horizon."""

    family: object          # a recipe task entry (name or inline table)
    task_seed: int
    optimizer: str
    base_lrs: list
    init_seeds: list
    horizon: int
    show_progress: bool
    val_evals: int | None = None   # validation losses fed per run; None: the recipe's val_evals (older checkpoints)


@dataclass
class Counters:
    outer_step: int = 0
    inner_steps: int = 0
    groups_started: int = 0
    diverged_runs: int = 0
    skipped_updates: int = 0     # outer steps whose meta-gradient was not finite
    best_score: float = math.inf
    best_step: int = -1
    history: list = field(default_factory=list)


class NamedTaskDraws(TaskFamily):
    """A fixed named task as a family: each draw is that task with a fresh data seed
    (another shuffle of the same data set), so real tasks can join a meta-training mixture."""

    def __init__(self, name: str):
        self.name = name
        self.task = get_task(name)
        self.kind = self.task.kind

    def sample(self, rng) -> Task:
        seed = int(np.random.default_rng(rng).integers(2**31 - 1))
        return dataclasses.replace(self.task, data_seed=seed)


def family_from_entry(entry):
    """A recipe task entry: a family name, ``{family = "name", param = value, ...}`` or ``{task = "name"}``."""
    if isinstance(entry, str):
        return get_family(entry)
    params = dict(entry)
    if "task" in params:
        if len(params) != 1:
            raise ValueError(f"task entry {entry!r}: a {{task = ...}} entry takes no other keys")
        return NamedTaskDraws(params["task"])
    name = params.pop("family", None)
    if not isinstance(name, str):
        raise ValueError(f"task entry {entry!r} needs a 'family' or a 'task' name")
    return get_family(name, **params)


def _device(device) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


class MetaTrainer:
    """Meta-trains an :class:`LRController` from a :class:`Recipe`.

    Under ``torch.distributed`` (``shard`` of more than one rank) each process
    unrolls only its share of the run groups and the meta-gradients are summed
    across ranks (see :mod:`lropt.meta.distributed`); the random draws do not
    depend on the number of processes.
    """

    def __init__(self, recipe: Recipe, *, seed: int = 0, device=None, shard: Shard | None = None):
        self.recipe, self.seed, self.device = recipe, seed, _device(device)
        self.shard = shard or current_shard()
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.controller = LRController(**recipe.controller.kwargs()).to(self.device)
        self.outer_opt = torch.optim.Adam(self.controller.parameters(), lr=recipe.outer.lr)
        self.families = [family_from_entry(e) for e in recipe.tasks.train]
        weights = recipe.tasks.train_weights or [1.0] * len(self.families)
        self.family_p = np.asarray(weights, dtype=float) / float(sum(weights))
        self.groups: list[RunGroup | None] = [None] * recipe.inner.groups   # None where another rank owns it
        self.specs: list[GroupSpec | None] = [None] * recipe.inner.groups
        self.pending = [True] * recipe.inner.groups   # groups to (re)draw before the next outer step
        self.counters = Counters()
        self.best_state = {k: v.detach().clone() for k, v in self.controller.state_dict().items()}
        self.validator = Validator(self._validation_tasks(), steps=recipe.outer.eval_horizon,
                                   optimizer=recipe.tasks.optimizers[0], device=torch.device(recipe.outer.eval_device))

    # ------------------------------------------------------------------ sampling
    def _validation_tasks(self) -> list:
        rng = np.random.default_rng(VALIDATION_SEED)
        fams = [family_from_entry(e) for e in self.recipe.tasks.validation]
        return [fams[i % len(fams)].sample(rng) for i in range(self.recipe.tasks.validation_count)]

    def _draw_spec(self) -> GroupSpec:
        r, cfg = self.rng, self.recipe
        fi = int(r.choice(len(self.families), p=self.family_p))
        opt_name = str(r.choice(cfg.tasks.optimizers))
        task_seed = int(r.integers(2**31 - 1))
        n = cfg.inner.runs_per_group
        units = n // 2 if cfg.estimator.name == "pes" else n
        shift, spread = cfg.tasks.base_lr_shift, cfg.tasks.base_lr_spread
        factors = 10.0 ** r.uniform(shift - spread, shift + spread, size=units)
        seeds = r.integers(2**31 - 1, size=units)
        lo, hi = math.log(cfg.inner.horizon_min), math.log(cfg.inner.horizon_max)
        horizon = int(round(math.exp(r.uniform(lo, hi))))
        show = bool(r.random() >= cfg.inner.hide_progress)
        task = self.families[fi].sample(task_seed)
        base = task.base_lr(opt_name)
        lrs = [float(base * f) for f in factors]
        seeds = [int(s) for s in seeds]
        if cfg.estimator.name == "pes":  # antithetic pairs share init and base LR
            lrs, seeds = [x for x in lrs for _ in (0, 1)], [x for x in seeds for _ in (0, 1)]
        evals = cfg.inner.val_evals
        if cfg.inner.val_evals_max > evals:   # drawn only then, so fixed-count recipes keep their random stream
            evals = int(round(math.exp(r.uniform(math.log(evals), math.log(cfg.inner.val_evals_max)))))
        return GroupSpec(cfg.tasks.train[fi], task_seed, opt_name, lrs, seeds, horizon, show, evals)

    def _build_group(self, spec: GroupSpec) -> RunGroup:
        task = family_from_entry(spec.family).sample(spec.task_seed)
        evals = self.recipe.inner.val_evals if spec.val_evals is None else spec.val_evals
        return start_group(
            task, inner_optimizer(spec.optimizer), spec.base_lrs, spec.horizon,
            lambda b: self.controller.init_state(b, device=self.device),
            init_seeds=spec.init_seeds, show_progress=spec.show_progress, device=self.device,
            val_every=max(1, spec.horizon // evals) if evals else 0,
        )

    def _refresh_groups(self) -> None:
        """Draw a new spec for every finished group (on every rank, in order); build the ones owned here."""
        for i, todo in enumerate(self.pending):
            if todo:
                self.specs[i] = self._draw_spec()
                self.groups[i] = self._build_group(self.specs[i]) if self.shard.owns(i) else None
                self.counters.groups_started += 1
                self.pending[i] = False

    # ------------------------------------------------------------------ one outer step
    def _truncate(self, g: RunGroup, k: int, noise_seed: int) -> tuple[float, int]:
        """One truncation of one group; adds its meta-gradient to ``.grad``; returns (meta-loss, inner steps)."""
        cfg = self.recipe
        before = g.step
        if cfg.estimator.name == "pes":
            grads, loss, _ = pes(g, self.controller, k, sigma=cfg.estimator.pes_sigma,
                                 cap=cfg.estimator.loss_cap, power=cfg.estimator.time_power,
                                 generator=torch.Generator().manual_seed(noise_seed),
                                 divergence_factor=cfg.inner.divergence_factor,
                                 objective=cfg.estimator.objective)
            for name, p in self.controller.named_parameters():
                p.grad = grads[name] if p.grad is None else p.grad + grads[name]
        else:
            _, loss, _ = tbptt(g, self.controller, k, cap=cfg.estimator.loss_cap, power=cfg.estimator.time_power,
                               second_order=cfg.estimator.name == "tbptt2",
                               divergence_factor=cfg.inner.divergence_factor)
        return loss, (g.step - before) * g.size

    def outer_step(self, *, stop: bool = False) -> dict:
        """Advance every group by one truncation and update the controller.

        ``stop`` is this process's stop request; the returned ``info["stop"]``
        is true when any rank asked, so all ranks stop after the same step.
        """
        cfg = self.recipe
        self._refresh_groups()
        self.outer_opt.zero_grad(set_to_none=True)
        n = len(self.groups)
        loss_sum, inner, diverged = 0.0, 0, 0
        finished = torch.zeros(n, dtype=torch.float64)
        for i in range(n):
            k = int(self.rng.integers(cfg.inner.truncation_min, cfg.inner.truncation_max + 1))
            noise_seed = int(self.rng.integers(2**63 - 1))
            g = self.groups[i]
            if g is None:   # owned by another rank
                continue
            # dropout masks come from the group's shared draw, so they do not depend on which rank runs it
            with seeded_global_rng(noise_seed, self.device):
                loss, steps = self._truncate(g, k, noise_seed)
            loss_sum, inner = loss_sum + loss, inner + steps
            if g.done or not bool(g.alive.any()):
                finished[i] = 1.0
                diverged += int((~g.alive).sum())
        params = list(self.controller.parameters())
        has_grad = float(any(p.grad is not None for p in params))
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).double()
                          for p in params] + [torch.tensor([loss_sum, inner, diverged, float(stop), has_grad],
                                                           dtype=torch.float64, device=self.device),
                                              finished.to(self.device)])
        flat = all_reduce_sum(flat, self.shard).cpu() if self.shard.active else flat.cpu()
        offset = 0
        for p in params:
            p.grad = flat[offset:offset + p.numel()].view_as(p).to(p.device, p.dtype) / n
            offset += p.numel()
        loss_sum, inner, diverged, any_stop, any_grad = flat[offset:offset + 5].tolist()
        self.pending = [bool(f) for f in flat[offset + 5:].tolist()]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.outer.clip))
        if any_grad and math.isfinite(grad_norm):   # no gradient anywhere (all runs dead): nothing to learn
            self.outer_opt.step()
        elif any_grad:
            self.counters.skipped_updates += 1
        self.counters.outer_step += 1
        self.counters.inner_steps += int(inner)
        self.counters.diverged_runs += int(diverged)
        return {"meta_loss": loss_sum / n, "grad_norm": grad_norm, "inner_steps": int(inner), "stop": any_stop > 0}

    # ------------------------------------------------------------------ validation
    def validate(self) -> dict:
        """Score a copy of the controller (on ``outer.eval_device``) through the real wrapper."""
        result = self.validator.score(copy.deepcopy(self.controller).to(self.validator.device).eval())
        c = self.counters
        if result["score"] < c.best_score:
            c.best_score, c.best_step = result["score"], c.outer_step
            self.best_state = {k: v.detach().clone() for k, v in self.controller.state_dict().items()}
        c.history.append({"outer_step": c.outer_step, "score": result["score"], "vs_cosine": result["vs_cosine"]})
        return result

    def init_from(self, path) -> str | None:
        """Warm-start: copy a controller's weights (a file or a shipped name).

        Its config must equal the recipe's except for ``start_log_mult``: the
        weights of a controller that started at 1.0 are a fine start for
        learning a warm-up start. Returns a note when the starts differ.
        """
        from ..controller_file import resolve_controller

        src = resolve_controller(path)
        if _without_start(src.config) != _without_start(self.controller.config):
            raise ValueError(f"--init-controller {path}: config {src.config} differs from the recipe's "
                             f"{self.controller.config}")
        self.controller.load_state_dict(src.state_dict())
        self.best_state = {k: v.detach().clone() for k, v in self.controller.state_dict().items()}
        if src.start_log_mult != self.controller.start_log_mult:
            return (f"--init-controller {path}: its start_log_mult {src.start_log_mult} is replaced by the "
                    f"recipe's {self.controller.start_log_mult}")
        return None

    def best_controller(self) -> LRController:
        ctrl = LRController(**self.recipe.controller.kwargs())
        ctrl.load_state_dict(self.best_state)
        return ctrl

    # ------------------------------------------------------------------ state
    def _owned_group_states(self) -> dict:
        """This rank's groups as ``{index: saved group}``, tensors on the CPU."""
        out = {}
        for i, (spec, g) in enumerate(zip(self.specs, self.groups)):
            if g is None or self.pending[i]:
                continue
            tensors = {"params": g.params, "buffers": g.buffers, "opt_state": g.opt_state, "feat": g.feat,
                       "ctrl": g.ctrl, "base_lr": g.base_lr, "update_ratio": g.update_ratio,
                       "prev_update": g.prev_update, "log_loss0": g.log_loss0, "alive": g.alive, "extra": g.extra}
            out[i] = {"spec": asdict(spec), "tensors": map_tensors(lambda t: t.detach().cpu(), tensors),
                      "step": g.step}
        return out

    def state_dict(self) -> dict | None:
        """Everything needed to continue bit-exactly; gathers every rank's groups (a collective).

        Returns the state on rank 0 and ``None`` on the other ranks.
        """
        shards = gather_to_main(self._owned_group_states(), self.shard)
        if not self.shard.is_main:
            return None
        owned = {i: saved for part in shards for i, saved in part.items()}
        return {
            "controller": self.controller.state_dict(),
            "outer_opt": self.outer_opt.state_dict(),
            "best_state": self.best_state,
            "counters": asdict(self.counters),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "groups": [owned.get(i) for i in range(len(self.groups))],
            "validation_baselines": self.validator._baselines,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpoint written by any number of processes; builds only the groups owned here."""
        self.controller.load_state_dict(state["controller"])
        self.outer_opt.load_state_dict(state["outer_opt"])
        self.best_state = state["best_state"]
        self.counters = Counters(**state["counters"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.validator._baselines = state.get("validation_baselines", {})
        if len(state["groups"]) != len(self.groups):
            raise ValueError(f"checkpoint has {len(state['groups'])} run groups, the recipe {len(self.groups)}")
        for i, saved in enumerate(state["groups"]):
            finished = saved is None or saved["step"] >= saved["spec"]["horizon"] \
                or not bool(saved["tensors"]["alive"].any())
            self.pending[i] = finished
            if finished:
                self.groups[i] = self.specs[i] = None
                continue
            spec = GroupSpec(**saved["spec"])
            self.specs[i] = spec
            self.groups[i] = None
            if self.shard.owns(i):
                g = self._build_group(spec)
                for name, value in saved["tensors"].items():
                    setattr(g, name, map_tensors(lambda t: t.to(self.device), value))
                g.step = saved["step"]
                self.groups[i] = g


def _without_start(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "start_log_mult"}
