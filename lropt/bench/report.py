"""Render a ``compare`` result: rich table, JSON, Markdown, TensorBoard overlays, PNG.

Files written by :func:`write_all` into ``out``:

- ``results.json``: the whole result, every run's curves included. JSON has
  no infinity: a non-finite number (a diverged run's final loss, a median
  over diverged runs) is written as ``null``; ``diverged`` / ``divergences``
  say why.
- ``results.md``: Markdown tables ready for BENCHMARKS.md, one per task
  (tasks are never averaged together), then the headline, pooled tests and
  the peer comparison.
- ``compare.png``: per task, validation loss vs step and LR vs step for every
  method (seed-median curves, log scale) at the centre LR factor.
- ``tb/<task>/<method>/``: TensorBoard event files, one run per method.

TensorBoard tag scheme (seed-median curves; x axis: training step):

- ``compare/val_loss``, ``compare/lr`` and, for lropt, ``compare/multiplier``:
  the main cell, i.e. the centre LR factor of the defaults regime (of the
  tuned regime when only that was run);
- ``compare/{regime}/x{factor}/val_loss`` (``/lr``, ``/multiplier``): every
  (regime, LR factor) cell, e.g. ``compare/tuned/x0.1/val_loss``.

Because runs are named ``<task>/<method>``, ``tensorboard --logdir
out/tb/<task>`` shows one chart per tag with every method of that task
overlaid; with ``--logdir out/tb`` type ``^<task>/`` in the run filter to get
the same view for one task.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from rich.table import Table

from .runner import LROPT


# ------------------------------------------------------------------------------ formatting


def _fmt(x, spec=".4g", none="-") -> str:
    if x is None:
        return none
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else "-inf" if x < 0 else "nan"
    return format(x, spec)


def _kept_note(meta: dict) -> str:
    kept = meta.get("kept_runs", 0)
    return (f"; {kept} more kept from an earlier start's runs.jsonl (their wall-clock is from then)"
            if kept else "")


def _steps(cell) -> str:
    """Median steps-to-target and how many seeds reached it; "never" when none did."""
    n = len(cell["seeds"])
    median = _fmt(cell["steps_to_target"], "d", "never" if cell["reached"] == 0 else "-")
    return f"{median} ({cell['reached']}/{n})"


def _speed(cell) -> str:
    return "-" if cell["speedup"] is None else f"{cell['speedup']:.2f}x"


def jsonable(obj):
    """``obj`` with tuples as lists, keys as strings and non-finite floats as ``None``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    return obj


def main_cell(result: dict) -> tuple[str, float]:
    """(regime, factor) of the main cell: defaults (else tuned) at the factor closest to 1."""
    regimes = result["meta"]["regimes"]
    factors = result["meta"]["lr_factors"]
    return regimes[0], min(factors, key=lambda f: abs(math.log(f)))


def _ordered_cells(task: dict) -> list[dict]:
    regimes = ["defaults", "tuned"]
    return sorted(task["cells"], key=lambda c: (regimes.index(c["regime"]), c["lr_factor"]))


# ------------------------------------------------------------------------------ table and text


_COLUMNS = ("task", "regime", "LR x", "method", "base LR", "final loss", "best loss", "final metric",
            "to target", "speedup", "vs x1", "div", "s/run")


def _columns(result: dict) -> list[str]:
    """The table's columns, leaving out task/regime/metric when they would hold one value or none."""
    cols = list(_COLUMNS)
    if len(result["tasks"]) == 1:
        cols.remove("task")
    if len(result["meta"]["regimes"]) == 1:
        cols.remove("regime")
    if not any(t["metric_name"] for t in result["tasks"].values()):
        cols.remove("final metric")
    return cols


def _row(task: dict, cell: dict, columns: list[str], best=("[green]", "[/]")) -> list[str]:
    loss = _fmt(cell["final_val_loss"])
    if cell.get("best_in_cell"):
        loss = f"{best[0]}{loss}{best[1]}"
    values = {
        "task": task["name"], "regime": cell["regime"], "LR x": _fmt(cell["lr_factor"], "g"),
        "method": cell["method"], "base LR": _fmt(cell["base_lr"], ".3g"), "final loss": loss,
        "best loss": _fmt(cell["best_val_loss"]), "final metric": _fmt(cell["final_metric"], ".3f"),
        "to target": _steps(cell), "speedup": _speed(cell), "vs x1": _fmt(cell["relative_to_centre"], ".2f"),
        "div": str(cell["divergences"]),
        "s/run": _fmt(cell["wall_s"], ".2f"),
    }
    return [values[c] for c in columns]


def rich_table(result: dict) -> Table:
    """One row per task x regime x LR factor x method; lropt rows bold, the best final loss of a cell green."""
    from rich import box

    columns = _columns(result)
    table = Table(title=headline_text(result), caption=_targets_text(result), box=box.SIMPLE_HEAD,
                  caption_justify="left")
    metrics = {t["metric_name"] for t in result["tasks"].values() if t["metric_name"]}
    for col in columns:
        header = f"final {metrics.pop()}" if col == "final metric" and len(metrics) == 1 else col
        table.add_column(header, justify="left" if col in ("task", "regime", "method") else "right",
                         no_wrap=col in ("method", "to target"))
    for task in result["tasks"].values():
        cells = _ordered_cells(task)
        for i, cell in enumerate(cells):
            group = (cell["regime"], cell["lr_factor"])
            last = i + 1 == len(cells) or (cells[i + 1]["regime"], cells[i + 1]["lr_factor"]) != group
            table.add_row(*_row(task, cell, columns), style="bold cyan" if cell["method"] == LROPT else None,
                          end_section=last)
    return table


def _seed_range(headline: dict) -> str | None:
    """The headline count's seed-bootstrap range as "low-high"; None for results without one."""
    boot = headline.get("seed_bootstrap")
    return f"{boot['low']}-{boot['high']}" if boot and boot["cells"] else None


def headline_text(result: dict) -> str:
    """"lropt matches or beats the best classic schedule in k/n cells" per regime."""
    parts = []
    for regime in result["meta"]["regimes"]:
        h = result["summary"][regime]["headline"]
        if h["cells"]:
            seeds = _seed_range(h)
            spread = f" ({seeds} with the seeds resampled)" if seeds else ""
            parts.append(f"{regime}: lropt matches (within {result['meta']['rel_tol']:.0%}) or beats the best of "
                         f"constant/step/exponential/cyclic/cosine in {h['matches_or_beats']}/{h['cells']} cells"
                         f"{spread}")
    return "; ".join(parts) or "lropt comparison"


def _targets_text(result: dict) -> str:
    parts = []
    for t in result["tasks"].values():
        tg = t["target"]
        parts.append(f"{t['name']}: target {_fmt(tg['val_loss'])} = median best val loss of {tg['method']} "
                     f"({tg['regime']}), reached at step {_fmt(tg['steps'], 'd', 'never')}")
    return "\n".join(parts)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _md_task(task: dict, regimes: list[str]) -> str:
    header = [c for c in _COLUMNS if c != "task" and (c != "regime" or len(regimes) > 1)
              and (c != "final metric" or task["metric_name"])]
    rows = []
    for cell in _ordered_cells(task):
        row = _row(task, cell, header, best=("**", "**"))
        if cell["method"] == LROPT:
            row[header.index("method")] = f"**{LROPT}**"
        rows.append(row)
    if task["metric_name"]:
        header[header.index("final metric")] = f"final {task['metric_name']}"
    tg = task["target"]
    text = [f"### {task['name']}", "", task["description"] or "", "",
            f"{task['steps']} steps, default base LR {task['default_lr']:.3g}, evaluated every {task['eval_every']} "
            f"steps. Target: {_fmt(tg['val_loss'])}, the median best validation loss of {tg['method']} "
            f"({tg['regime']}, LR x{tg['lr_factor']:g}), which reaches it at step {_fmt(tg['steps'], 'd', 'never')}. "
            "Bold loss: best final validation loss of its (regime, LR x) cell. vs x1: final loss relative to "
            "the same method and regime at LR x1 (robustness to a mis-set LR).", "", _md_table(header, rows)]
    if task["tuning"]:
        text += ["", _md_tuning(task["tuning"])]
    return "\n".join(text)


def _md_tuning(tuning: dict) -> str:
    """The tuned LR of each baseline, whether it sits at the grid's edge, and the grid's medians."""
    grid = next(iter(tuning.values()))["grid"]
    rows = [[m, _fmt(t["best_lr"], ".3g"), "yes" if t["at_edge"] else "no",
             " ".join(_fmt(v, ".3g") for v in t["median_final_val_loss"])] for m, t in tuning.items()]
    header = ["method", "tuned LR", "at grid edge", "median final val loss per grid LR"]
    return f"Tuned base LRs (grid {' '.join(_fmt(x, '.2g') for x in grid)}):\n\n" + _md_table(header, rows)


def _md_summary(result: dict) -> str:
    meta = result["meta"]
    rows = []
    for regime in meta["regimes"]:
        s = result["summary"][regime]
        w = s["vs_best_classic"]
        seeds = _seed_range(s["headline"])
        spread = f" (seeds resampled: {seeds})" if seeds else ""
        rows.append([regime, f"{s['headline']['matches_or_beats']}/{s['headline']['cells']}{spread}",
                     f"{w['win']}/{w['tie']}/{w['loss']}", _fmt(w["wilcoxon"]["p_value"], ".3g"),
                     _fmt(w["wilcoxon"]["median_diff"], "+.3f")])
    peer = [[m, f"{p['matches_or_beats']}/{p['tasks']}", _fmt(p["median_speedup"], ".2f")]
            for m, p in result["summary"]["peer"].items()]
    return "\n".join([
        "### Summary", "",
        _md_table(["regime", "lropt matches/beats best classic (cells)", "win/tie/loss vs best classic (seeds)",
                   "Wilcoxon p", "median log-ratio"], rows), "",
        "Each method at its default LR against the target-setting schedule (matches within "
        f"{meta['rel_tol']:.0%} or beats; median speedup over tasks, never reaching counted as 0):", "",
        _md_table(["method", "tasks matched or beaten", "median speedup"], peer),
    ])


def markdown(result: dict, command: str | None = None) -> str:
    """Markdown for BENCHMARKS.md: the setup, one table per task, then the summary."""
    meta = result["meta"]
    ctrl = meta["controller"]
    head = [
        "## lropt compare", "",
        f"- command: `{command}`" if command else None,
        f"- date {meta['date']}; {meta['machine']}; device {meta['device']}, {meta['threads']} threads; "
        f"lropt {meta['lropt_version']}, torch {meta['torch_version']}, Python {meta['python']}",
        f"- controller {ctrl['spec']}{' (identity)' if ctrl['identity'] else ''}; base optimizer {meta['optimizer']}; "
        f"seeds {meta['seeds']}; regime {meta['regime']}; LR factors {meta['lr_factors']}"
        + (f"; tuning grid {meta['tune_grid_points']} points {meta['grid_spacing_decades']} decades apart, "
           f"{meta['tune_seeds']} seeds" if "tuned" in meta["regimes"] else "")
        + ("; lropt not told the run length (no total_steps)" if meta.get("tell_total_steps") is False else ""),
        f"- {meta['runs']} runs in {meta['wall_s']:.1f} s" + _kept_note(meta), "",
        f"**{headline_text(result)}**", "",
    ]
    body = [_md_task(t, meta["regimes"]) for t in result["tasks"].values()]
    return "\n".join([line for line in head if line is not None] + ["\n\n".join(body), "", _md_summary(result), ""])


# ------------------------------------------------------------------------------ curves


def median_curve(runs: list[dict], x_key: str, y_key: str) -> tuple[list[int], list[float]]:
    """Seed-median of ``y_key`` over runs at the x values of the longest run.

    A run that stopped early (diverged) counts as ``inf`` for a loss curve
    beyond its end and is left out of an LR curve there.
    """
    longest = max(runs, key=lambda r: len(r[x_key]))
    xs = longest[x_key]
    pad = math.inf if y_key == "val_loss" else math.nan
    ys = np.full((len(runs), len(xs)), pad)
    for i, r in enumerate(runs):
        vals = [pad if v is None else v for v in (r[y_key] or [])]
        ys[i, : len(vals)] = vals
    with np.errstate(all="ignore"):
        med = np.median(ys, axis=0) if y_key == "val_loss" else np.nanmedian(ys, axis=0)
    return list(xs), [float(v) for v in med]


def _curves(cell: dict) -> dict[str, tuple[list, list]]:
    runs = cell["runs"]
    out = {"val_loss": median_curve(runs, "eval_steps", "val_loss"), "lr": median_curve(runs, "lr_steps", "lr")}
    if cell["method"] == LROPT:
        out["multiplier"] = median_curve(runs, "lr_steps", "multiplier")
    return out


def write_tensorboard(result: dict, tb_dir: str | Path) -> Path:
    """Seed-median curves as TensorBoard scalars under ``tb_dir/<task>/<method>`` (tags: module docstring)."""
    from torch.utils.tensorboard import SummaryWriter

    tb_dir = Path(tb_dir)
    main = main_cell(result)
    for task in result["tasks"].values():
        writers = {}
        for cell in task["cells"]:
            m = cell["method"]
            if m not in writers:
                writers[m] = SummaryWriter(log_dir=str(tb_dir / task["name"] / m))
            prefixes = [f"compare/{cell['regime']}/x{cell['lr_factor']:g}"]
            if (cell["regime"], cell["lr_factor"]) == main:
                prefixes.append("compare")
            for name, (xs, ys) in _curves(cell).items():
                for x, y in zip(xs, ys):
                    if math.isfinite(y):
                        for prefix in prefixes:
                            writers[m].add_scalar(f"{prefix}/{name}", y, x)
        for w in writers.values():
            w.close()
    return tb_dir


def plot(result: dict, path: str | Path) -> Path:
    """One figure: per task (row), val loss vs step and LR vs step for every method at the main cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regime, factor = main_cell(result)
    tasks = list(result["tasks"].values())
    palette = plt.get_cmap("tab20").colors
    colors = {m: palette[i % len(palette)] for i, m in enumerate(result["meta"]["methods"])}
    fig, axes = plt.subplots(len(tasks), 2, figsize=(12, 3.6 * len(tasks)), squeeze=False)
    for (ax_loss, ax_lr), task in zip(axes, tasks):
        for cell in task["cells"]:
            if (cell["regime"], cell["lr_factor"]) != (regime, factor):
                continue
            curves = _curves(cell)
            m = cell["method"]
            style = dict(color="black", lw=2.4, zorder=10) if m == LROPT else dict(color=colors[m], lw=1.2, alpha=0.9)
            for ax, key in ((ax_loss, "val_loss"), (ax_lr, "lr")):
                xs, ys = curves[key]
                pts = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y) and y > 0]
                if pts:
                    ax.plot(*zip(*pts), label=cell["method"], **style)
        target = task["target"]["val_loss"]
        if target is not None and target > 0:
            ax_loss.axhline(target, color="grey", ls=":", lw=1, label="target")
        ax_loss.set(title=f"{task['name']}: validation loss ({regime}, LR x{factor:g})", xlabel="step", yscale="log")
        ax_lr.set(title=f"{task['name']}: effective LR", xlabel="step", yscale="log")
        ax_loss.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------ all files


def write_all(result: dict, out: str | Path, command: str | None = None) -> dict[str, Path]:
    """Write results.json, results.md, compare.png and tb/ into ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md", "png": out / "compare.png",
             "tensorboard": out / "tb"}
    payload = jsonable({**result, "meta": {**result["meta"], "command": command}})
    paths["json"].write_text(json.dumps(payload, indent=1, allow_nan=False))
    paths["markdown"].write_text(markdown(result, command))
    plot(result, paths["png"])
    write_tensorboard(result, paths["tensorboard"])
    return paths
