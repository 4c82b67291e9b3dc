"""The task and family registry behind ``get_task``, ``get_family``, ``list_tasks``, ``list_families``.

Entries name their factory as ``"module:function"`` (relative to
``lropt.tasks``) and are imported only when used, so ``import lropt.tasks``
stays light. Building a task object never loads data (tasks load lazily), so
listing every task is cheap. Parameter counts of real tasks are recorded here
(checked against the models by the tests) because computing them would mean
loading data or pretrained weights.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from dataclasses import dataclass

from .base import Mixture, Task, TaskFamily


@dataclass(frozen=True)
class Entry:
    """A named task: its kind, factory, and recorded size."""

    name: str
    kind: str
    factory: str
    rows: int | None = None
    params: int | None = None


_SYNTHETIC_NAMED = (
    "quadratic-10d",
    "quadratic-100d-ill",
    "teacher-mlp-small",
    "linreg-ill",
    "logreg-ill",
    "conv-bars",
    "conv-blobs-rgb",
    "char-lm-small",
    "char-lm-mlp",
    "bow-small",
)

ENTRIES: dict[str, Entry] = {
    **{n: Entry(n, "synthetic", "synthetic:named_task") for n in _SYNTHETIC_NAMED},
    "digits-mlp": Entry("digits-mlp", "offline", "offline.tabular:digits_mlp", rows=1797, params=26_122),
    "digits-cnn": Entry("digits-cnn", "offline", "offline.digits_cnn:digits_cnn", rows=1797, params=9_930),
    "breast-cancer": Entry("breast-cancer", "offline", "offline.tabular:breast_cancer", rows=569, params=2_114),
    "wine": Entry("wine", "offline", "offline.tabular:wine", rows=178, params=547),
    "titanic": Entry("titanic", "offline", "offline.tabular:titanic", rows=1316, params=322),
    "cells-mlp": Entry("cells-mlp", "offline", "offline.tabular:cells_mlp", rows=2019, params=7_938),
    "churn-mlp": Entry("churn-mlp", "offline", "offline.tabular:churn_mlp", rows=5000, params=9_026),
    "leaves-mlp": Entry("leaves-mlp", "offline", "offline.tabular:leaves_mlp", rows=1907, params=27_168),
    "hpc-mlp": Entry("hpc-mlp", "offline", "offline.tabular:hpc_mlp", rows=4331, params=6_148),
    "attrition-mlp": Entry("attrition-mlp", "offline", "offline.tabular:attrition_mlp", rows=1470, params=8_898),
    "grants-mlp": Entry("grants-mlp", "offline", "offline.tabular:grants_mlp", rows=8190, params=117_826),
    "credit-mlp": Entry("credit-mlp", "offline", "offline.tabular:credit_mlp", rows=4039, params=6_018),
    "ad-mlp": Entry("ad-mlp", "offline", "offline.tabular:ad_mlp", rows=333, params=8_834),
    "pdspeech-mlp": Entry("pdspeech-mlp", "offline", "offline.tabular:pdspeech_mlp", rows=252, params=48_258),
    "wachurn-mlp": Entry("wachurn-mlp", "offline", "offline.tabular:wachurn_mlp", rows=7032, params=6_914),
    "hepatic-mlp": Entry("hepatic-mlp", "offline", "offline.tabular:hepatic_mlp", rows=281, params=24_323),
    "lending-mlp": Entry("lending-mlp", "offline", "offline.tabular:lending_mlp", rows=9857, params=11_970),
    "stackoverflow-mlp": Entry("stackoverflow-mlp", "offline", "offline.tabular:stackoverflow_mlp", rows=5594,
                               params=5_890),
    "taxi-mlp": Entry("taxi-mlp", "offline", "offline.tabular:taxi_mlp", rows=10000, params=5_762),
    "bivariate-mlp": Entry("bivariate-mlp", "offline", "offline.tabular:bivariate_mlp", rows=1009, params=4_482),
    "penguins-mlp": Entry("penguins-mlp", "offline", "offline.tabular:penguins_mlp", rows=333, params=4_995),
    "twoclass-mlp": Entry("twoclass-mlp", "offline", "offline.tabular:twoclass_mlp", rows=791, params=4_482),
    "checktimes-mlp": Entry("checktimes-mlp", "offline", "offline.tabular:checktimes_mlp", rows=13626,
                            params=5_826),
    "participation-mlp": Entry("participation-mlp", "offline", "offline.tabular:participation_mlp", rows=872,
                               params=4_802),
    "trainchoice-mlp": Entry("trainchoice-mlp", "offline", "offline.tabular:trainchoice_mlp", rows=2929,
                             params=4_866),
    "vote92-mlp": Entry("vote92-mlp", "offline", "offline.tabular:vote92_mlp", rows=909, params=4_931),
    "turnout-mlp": Entry("turnout-mlp", "offline", "offline.tabular:turnout_mlp", rows=2000, params=4_674),
    "pima-mlp": Entry("pima-mlp", "offline", "offline.tabular:pima_mlp", rows=332, params=4_802),
    "males-mlp": Entry("males-mlp", "offline", "offline.tabular:males_mlp", rows=3115, params=6_594),
    "unempdur-mlp": Entry("unempdur-mlp", "offline", "offline.tabular:unempdur_mlp", rows=3343, params=4_994),
    "vietnamh-mlp": Entry("vietnamh-mlp", "offline", "offline.tabular:vietnamh_mlp", rows=5006, params=5_058),
    "biochemists-mlp": Entry("biochemists-mlp", "offline", "offline.tabular:biochemists_mlp", rows=915,
                             params=4_738),
    "hdma-mlp": Entry("hdma-mlp", "offline", "offline.tabular:hdma_mlp", rows=2380, params=5_442),
    "treatment-mlp": Entry("treatment-mlp", "offline", "offline.tabular:treatment_mlp", rows=2675, params=5_250),
    "housing-mlp": Entry("housing-mlp", "offline", "offline.tabular:housing_mlp", rows=546, params=5_378),
    "benefits-mlp": Entry("benefits-mlp", "offline", "offline.tabular:benefits_mlp", rows=4877, params=6_082),
    "mroz-mlp": Entry("mroz-mlp", "offline", "offline.tabular:mroz_mlp", rows=753, params=5_314),
    "fishing-mlp": Entry("fishing-mlp", "offline", "offline.tabular:fishing_mlp", rows=1182, params=5_060),
    "foodreviews-bow": Entry(
        "foodreviews-bow", "offline", "offline.reviews_small:foodreviews_bow", rows=5000, params=473_090
    ),
    "foodreviews-textcnn": Entry(
        "foodreviews-textcnn", "offline", "offline.reviews_small:foodreviews_textcnn", rows=5000, params=518_530
    ),
    "foodreviews-gru": Entry(
        "foodreviews-gru", "offline", "offline.reviews_small:foodreviews_gru", rows=5000, params=493_890
    ),
    "foodreviews-chargru": Entry(
        "foodreviews-chargru", "offline", "offline.reviews_chars:foodreviews_chargru", rows=5000, params=76_537
    ),
    "elecdemand-cnn1d": Entry(
        "elecdemand-cnn1d", "offline", "offline.elecdemand:elecdemand_cnn1d", rows=17_520, params=17_148
    ),
    "foodreviews-minilm": Entry(
        "foodreviews-minilm", "offline", "offline.reviews_minilm:foodreviews_minilm", rows=5000, params=22_713_986
    ),
    "mnist-mlp": Entry("mnist-mlp", "download", "online.vision:mnist_mlp", rows=70_000, params=269_322),
    "fashion-mnist-mlp": Entry(
        "fashion-mnist-mlp", "download", "online.vision:fashion_mnist_mlp", rows=70_000, params=269_322
    ),
    "cifar10-resnet18": Entry(
        "cifar10-resnet18", "download", "online.vision:cifar10_resnet18", rows=60_000, params=11_173_962
    ),
    "imdb-distilbert": Entry(
        "imdb-distilbert", "download", "online.text:imdb_distilbert", rows=50_000, params=66_955_010
    ),
    "sst2-distilbert": Entry(
        "sst2-distilbert", "download", "online.text:sst2_distilbert", rows=68_221, params=66_955_010
    ),
    "agnews-distilbert": Entry(
        "agnews-distilbert", "download", "online.text:agnews_distilbert", rows=127_600, params=66_956_548
    ),
}

FAMILY_NAMES = (
    "teacher_mlp", "quadratic", "linear_regression", "logistic_regression", "conv", "char_lm", "bag_of_words"
)
MIXTURE_NAME = "synthetic"


def _load(ref: str):
    module, attr = ref.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), attr)


def _normalise(name: str) -> str:
    return str(name).strip().lower()


def _unknown(what: str, plural: str, name: str, known: list[str], hint: str = "") -> ValueError:
    """A ``ValueError`` naming close matches (difflib) and every known name."""
    close = difflib.get_close_matches(_normalise(name), known, n=3, cutoff=0.5)
    maybe = f" Did you mean: {', '.join(close)}?" if close else ""
    return ValueError(f"unknown {what} {name!r}.{maybe}{hint} Known {plural}: {', '.join(known)}")


def get_task(name: str, **params) -> Task:
    """The named task, built lazily (no data is loaded until first used).

    ``params`` override the task's fields (``data_seed``, ``batch_size``,
    ``default_steps``, model sizes, ``data_dir``/``model`` for download tasks;
    for synthetic tasks, any parameter of its family).
    """
    key = _normalise(name)
    key = key if key in ENTRIES else key.replace("_", "-")
    if key not in ENTRIES:
        hint = f" {name!r} is a task family: use get_family({name!r}).sample(seed)." if _family_key(name) else ""
        raise _unknown("task", "tasks", name, list(ENTRIES), hint)
    entry = ENTRIES[key]
    factory = _load(entry.factory)
    if entry.kind == "synthetic":
        return factory(key, **params)
    _check_task_params(key, factory, params)
    return factory(**params)


def _task_fields(factory) -> dict:
    """The dataclass fields of the task class a factory builds (read from its return annotation)."""
    import typing

    cls = typing.get_type_hints(factory)["return"]
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _check_task_params(name: str, factory, params: dict) -> None:
    fields = _task_fields(factory)
    fixed = {"name", "family", "kind"}
    for key, value in params.items():
        if key not in fields or key in fixed:
            allowed = ", ".join(k for k in fields if k not in fixed)
            raise ValueError(f"task {name!r} has no parameter {key!r}; its parameters are: {allowed}")
        if key in ("batch_size", "default_steps", "val_batch_size") and not (_is_int(value) and value >= 1):
            raise ValueError(f"task {name!r}: parameter {key!r} must be an int >= 1; got {value!r}")
        if key in ("data_seed", "split_seed") and not (_is_int(value) and value >= 0):
            raise ValueError(f"task {name!r}: parameter {key!r} must be an int >= 0; got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _family_key(name: str) -> str | None:
    key = _normalise(name).replace("-", "_")
    return key if key in FAMILY_NAMES or key == MIXTURE_NAME else None


def get_family(name: str, **params) -> TaskFamily:
    """A task family by name; ``params`` set its ranges (a value, a ``(lo, hi)`` range, or a list of choices).

    ``"synthetic"`` is an equal-weight :class:`Mixture` of all synthetic
    families (``weights={family: weight}`` reweights it).
    """
    key = _family_key(name)
    if key is None:
        raise _unknown("family", "families", name, [*FAMILY_NAMES, MIXTURE_NAME])
    from .synthetic import FAMILIES

    if key == MIXTURE_NAME:
        return _mixture(FAMILIES, **params)
    return FAMILIES[key](**params)


def _mixture(families: dict, weights: dict | None = None, **extra) -> Mixture:
    if extra:
        raise ValueError(f"family 'synthetic' has no parameter {next(iter(extra))!r}; its parameters are: weights")
    weights = dict(weights or {})
    bad = sorted(set(weights) - set(FAMILY_NAMES))
    if bad:
        raise ValueError(
            f"family 'synthetic': parameter 'weights' has unknown family {bad[0]!r}; "
            f"allowed keys: {', '.join(FAMILY_NAMES)}"
        )
    w = [float(weights.get(n, 1.0)) for n in FAMILY_NAMES]
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(
            f"family 'synthetic': parameter 'weights' must be non-negative with a positive sum; got {weights}"
        )
    return Mixture([families[n]() for n in FAMILY_NAMES], w, name=MIXTURE_NAME)


def list_tasks() -> list[dict]:
    """One row per named task: name, kind, family, params, rows, size, default_steps, batch_size, base_lr_adam, ..."""
    rows = []
    for entry in ENTRIES.values():
        task = get_task(entry.name)
        params = entry.params if entry.params is not None else _count(task)
        rows.append(
            {
                "name": entry.name,
                "kind": entry.kind,
                "family": task.family,
                "params": params,
                "rows": entry.rows,
                "size": _size(params, entry.rows),
                "default_steps": task.default_steps,
                "batch_size": task.batch_size,
                "base_lr_adam": task.base_lr("adam"),
                "metric": task.metric_name,
                "description": task.description,
            }
        )
    return rows


def list_families() -> list[dict]:
    """One row per family: name, kind, params range, size, default_steps, batch_size, base_lr_adam, ranges."""
    from .synthetic import FAMILIES

    rows = []
    for name in FAMILY_NAMES:
        info = FAMILIES[name]().describe()
        info["size"] = _size_range(info["params"])
        rows.append(info)
    span = (min(r["params"][0] for r in rows), max(r["params"][1] for r in rows))
    rows.append(
        {
            "name": MIXTURE_NAME,
            "kind": "synthetic",
            "params": span,
            "size": _size_range(span),
            "default_steps": _merge(r["default_steps"] for r in rows),
            "batch_size": _merge(r["batch_size"] for r in rows),
            "base_lr_adam": _merge(r["base_lr_adam"] for r in rows),
            "description": "equal-weight mixture of every synthetic family",
            "ranges": {"families": list(FAMILY_NAMES)},
        }
    )
    return rows


def _merge(spans):
    """The smallest range covering values and ``(lo, hi)`` ranges."""
    values = [v for s in spans for v in (s if isinstance(s, tuple) else (s,))]
    lo, hi = min(values), max(values)
    return lo if lo == hi else (lo, hi)


def _count(task: Task) -> int:
    return sum(p.numel() for p in task.init_model(0).parameters())


def _human(n: int) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


def _size(params: int | None, rows: int | None) -> str:
    parts = [f"{_human(params)} params"] if params is not None else []
    parts.append(f"{_human(rows)} rows" if rows is not None else "generated")
    return ", ".join(parts)


def _size_range(span) -> str:
    lo, hi = span
    return f"{_human(lo)}-{_human(hi)} params, generated"
