"""Meta-training recipes: TOML files resolved into a validated, typed config.

A recipe is a TOML file with the sections below (``recipes/default.toml`` is
the embedded default). ``--set section.key=value`` overrides any entry; the
value is parsed as TOML (``3``, ``0.1``, ``"adam"``, ``[1, 2]``). An unknown
key or a value of the wrong type is a ``RecipeError`` naming the key, with a
close-match suggestion.
"""
from __future__ import annotations

import copy
import difflib
import dataclasses
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class RecipeError(ValueError):
    """A recipe key is unknown or has a bad value (the CLI turns it into a UsageError)."""


@dataclass
class TasksConfig:
    train: list = field(default_factory=lambda: ["teacher_mlp", "quadratic"])
    train_weights: list = field(default_factory=list)
    validation: list = field(default_factory=lambda: ["logistic_regression"])
    validation_count: int = 4          # validation tasks sampled once (fixed seed) from `validation`
    optimizers: list = field(default_factory=lambda: ["adam"])
    base_lr_spread: float = 1.0        # base LR = task default * 10**U(shift - spread, shift + spread)
    base_lr_shift: float = 0.0         # centre of that range in decades (> 0: more too-high base LRs)


@dataclass
class InnerConfig:
    horizon_min: int = 100
    horizon_max: int = 400
    truncation_min: int = 10
    truncation_max: int = 20
    runs_per_group: int = 8            # runs of one architecture advanced together (vmap)
    groups: int = 2                    # architectures per outer step
    hide_progress: float = 0.25        # probability that a run does not see the progress feature
    divergence_factor: float = 3.0     # a run whose loss exceeds this x its start is reset
    val_evals: int = 0                 # validation losses fed to the features per run (0: none), as observe() would
    val_evals_max: int = 0             # > val_evals: each run group draws its count log-uniformly in [val_evals, this]


@dataclass
class EstimatorConfig:
    name: str = "tbptt"                # tbptt | tbptt2 (second order) | pes
    pes_sigma: float = 0.05
    loss_cap: float = 2.0              # per-step meta-loss term log(L/L0) is capped here
    time_power: float = 2.0            # step weight (p+1)(t/T)^p: 0 = area under the curve, larger = final loss
    objective: str = "train"           # train: each step's training-batch loss; val: validation loss at the end of each truncation (pes)


@dataclass
class ControllerConfig:
    hidden_size: int = 32
    cell: str = "gru"
    max_log_step: float = 0.1
    max_log_mult: float = 4.6
    guard_loss_ratio: float = 0.0      # > 1: force the LR down while loss > ratio x first loss
    guard_log_step: float = 0.0        # how fast the guard lowers the log-multiplier; 0: max_log_step
    start_log_mult: float = 0.0        # < 0: warm-up start, the multiplier begins at exp(start_log_mult)
    overfit_guard: float = 0.0         # > 0: force the LR down while val loss > exp(guard) x its best

    def kwargs(self) -> dict:
        """The :class:`lropt.LRController` arguments."""
        out = dataclasses.asdict(self)
        out["guard_log_step"] = out["guard_log_step"] or None
        return out


@dataclass
class OuterConfig:
    steps: int = 300
    lr: float = 3e-3
    clip: float = 1.0
    eval_every: int = 50
    checkpoint_every: int = 25
    eval_horizon: int = 300
    eval_device: str = "cpu"           # validation runs here (tiny tasks are launch-bound on a GPU)


@dataclass
class Recipe:
    name: str = "default"
    tasks: TasksConfig = field(default_factory=TasksConfig)
    inner: InnerConfig = field(default_factory=InnerConfig)
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    outer: OuterConfig = field(default_factory=OuterConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "Recipe":
        i, e, o = self.inner, self.estimator, self.outer
        _require(1 <= i.horizon_min <= i.horizon_max, "inner.horizon_min/horizon_max", "1 <= min <= max")
        _require(1 <= i.truncation_min <= i.truncation_max, "inner.truncation_min/truncation_max", "1 <= min <= max")
        _require(i.runs_per_group >= 1 and i.groups >= 1, "inner.runs_per_group/groups", ">= 1")
        _require(0.0 <= i.hide_progress <= 1.0, "inner.hide_progress", "in [0, 1]")
        _require(i.divergence_factor > 1.0, "inner.divergence_factor", "> 1")
        _require(i.val_evals >= 0, "inner.val_evals", ">= 0")
        _require(i.val_evals_max == 0 or i.val_evals_max >= i.val_evals >= 1, "inner.val_evals_max",
                 "0 (a fixed count) or >= inner.val_evals >= 1")
        _require(e.name in ESTIMATORS, "estimator.name", f"one of {ESTIMATORS}")
        _require(e.pes_sigma > 0, "estimator.pes_sigma", "> 0")
        _require(e.name != "pes" or i.runs_per_group % 2 == 0, "inner.runs_per_group",
                 "even with estimator.name = 'pes' (antithetic pairs)")
        _require(e.loss_cap > 0, "estimator.loss_cap", "> 0")
        _require(e.time_power >= 0, "estimator.time_power", ">= 0")
        _require(e.objective in OBJECTIVES, "estimator.objective", f"one of {OBJECTIVES}")
        _require(e.objective == "train" or e.name == "pes", "estimator.objective",
                 "'train' unless estimator.name = 'pes' (the validation objective is estimated by PES only)")
        _require(o.steps >= 1 and o.lr > 0 and o.clip > 0, "outer.steps/lr/clip", "positive")
        _require(o.eval_every >= 1 and o.checkpoint_every >= 1 and o.eval_horizon >= 1,
                 "outer.eval_every/checkpoint_every/eval_horizon", ">= 1")
        _require(bool(self.tasks.train), "tasks.train", "a non-empty list of task families")
        _require(self.tasks.base_lr_spread >= 0, "tasks.base_lr_spread", ">= 0")
        _require(not self.tasks.train_weights or len(self.tasks.train_weights) == len(self.tasks.train),
                 "tasks.train_weights", "empty or one weight per tasks.train entry")
        _require(self.controller.cell in ("gru", "lstm"), "controller.cell", "'gru' or 'lstm'")
        _require(-self.controller.max_log_mult <= self.controller.start_log_mult <= 0,
                 "controller.start_log_mult", "in [-max_log_mult, 0]")
        return self


ESTIMATORS = ("tbptt", "tbptt2", "pes")
OBJECTIVES = ("train", "val")
SECTIONS = {f.name: f.type for f in fields(Recipe) if f.name != "name"}


def _require(ok: bool, key: str, what: str) -> None:
    if not ok:
        raise RecipeError(f"recipe key {key}: must be {what}")


def _section_fields(section: str) -> dict:
    return {f.name: f for f in fields(type(getattr(Recipe(), section)))}


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _typed(key: str, value, default):
    """Check ``value`` against the type of the default; ints are accepted for floats."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise RecipeError(f"recipe key {key}: expected {type(default).__name__}, got {value!r}")
    return value


def from_dict(data: dict) -> Recipe:
    recipe = Recipe()
    for section, body in data.items():
        if section == "name":
            recipe.name = _typed("name", body, "")
            continue
        if section not in SECTIONS:
            raise RecipeError(f"unknown recipe section {section!r}{_suggest(section, list(SECTIONS) + ['name'])}")
        if not isinstance(body, dict):
            raise RecipeError(f"recipe section {section!r} must be a table")
        known = _section_fields(section)
        target = getattr(recipe, section)
        for key, value in body.items():
            if key not in known:
                raise RecipeError(f"unknown recipe key {section}.{key}{_suggest(key, known)}")
            setattr(target, key, _typed(f"{section}.{key}", value, getattr(target, key)))
    return recipe.validate()


def default_recipe_path() -> Path:
    return Path(str(resources.files("lropt") / "recipes" / "default.toml"))


def load_recipe(path: str | Path | None = None, overrides: list[str] | tuple = ()) -> Recipe:
    """Load a recipe file (the embedded default when ``path`` is None) and apply ``key=value`` overrides."""
    path = Path(path) if path is not None else default_recipe_path()
    if not path.is_file():
        raise RecipeError(f"recipe file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"recipe file {str(path)!r} is not valid TOML: {exc}") from None
    data = copy.deepcopy(data)
    for item in overrides:
        apply_override(data, item)
    return from_dict(data)


def apply_override(data: dict, item: str) -> None:
    """Apply one ``section.key=value`` override to raw recipe data (value parsed as TOML)."""
    if "=" not in item:
        raise RecipeError(f"--set expects section.key=value, got {item!r}")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words are strings: --set estimator.name=pes
    if key == "name":
        data["name"] = value
        return
    if "." not in key:
        raise RecipeError(f"--set key {key!r} must be section.key{_suggest(key, SECTIONS)}")
    section, name = key.split(".", 1)
    if section not in SECTIONS:
        raise RecipeError(f"unknown recipe section {section!r}{_suggest(section, SECTIONS)}")
    if name not in _section_fields(section):
        raise RecipeError(f"unknown recipe key {key}{_suggest(name, _section_fields(section))}")
    data.setdefault(section, {})[name] = value


def dump_toml(recipe: Recipe) -> str:
    """The resolved recipe as TOML (saved in the run directory)."""
    lines = [f'name = "{recipe.name}"', ""]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for key, value in asdict(getattr(recipe, section)).items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
