"""The ``lropt`` command line: a thin click group that parses, then calls library functions."""
from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from ._version import __version__

console = Console(soft_wrap=True)  # a message is one line in a log too; rich's tables keep their width


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lropt")
def cli() -> None:
    """lropt: meta-learned learning-rate control for any torch optimizer."""


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--png", type=click.Path(dir_okay=False), help="Also plot the LR trajectories to this PNG.")
@click.option("--all-tags", is_flag=True, help="Show features too, not only LR and multiplier.")
def inspect(run_dir: str, png: str | None, all_tags: bool) -> None:
    """Summarise the LR trajectory logged in RUN_DIR (a TensorBoard log dir)."""
    from .runs import plot_run, summarise_run

    try:
        rows = summarise_run(run_dir)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not all_tags:
        rows = [r for r in rows if "/features/" not in r["tag"] and "/x" not in r["tag"]] or rows
    table = Table(title=f"lropt run: {run_dir}")
    table.add_column("tag", overflow="fold", ratio=3)
    for col in ("steps", "first", "min", "max", "last"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            r["tag"], f"{r['first_step']}..{r['last_step']} ({r['points']})",
            *(f"{r[k]:.4g}" for k in ("first", "min", "max", "last")),
        )
    console.print(table)
    if png:
        try:
            console.print(f"wrote {plot_run(run_dir, png)}")
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None


def _positive_int(ctx, param, value):
    if value is not None and value < 1:
        raise click.BadParameter(f"must be >= 1, got {value}")
    return value


@cli.command("meta-train")
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@click.option("--out", default="runs/meta", show_default=True, type=click.Path(file_okay=False),
              help="Run directory: controller.pt, checkpoint.pt, recipe.toml, tb/.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True, help="torch device for inner training, e.g. cuda.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe entry, e.g. --set outer.steps=50 (repeatable).")
@click.option("--threads", type=int, default=None, callback=_positive_int,
              help="torch CPU threads (default: torch's choice).")
@click.option("--init-controller", metavar="PATH|NAME", default=None,
              help="Start from this controller's weights: a file or a shipped name such as default "
                   "(its config must match the recipe's).")
def meta_train(recipe, out, seed, device, resume, overrides, threads, init_controller):
    """Meta-train a controller from RECIPE (default: the embedded default recipe).

    Under torchrun (``torchrun --nproc_per_node N -m lropt meta-train ...``) the
    run groups are shared out among the N processes and their meta-gradients
    summed; rank 0 alone prints, validates and writes the run directory.
    """
    import torch

    from .meta import distributed
    from .meta.recipe import RecipeError, load_recipe
    from .meta.run import Interrupted, MetaRun, RunError
    from .progress import meta_progress

    try:
        rec = load_recipe(recipe, overrides)
        _check_device(device)
        shard, device = distributed.init_from_env(device)
        if threads is not None:
            torch.set_num_threads(threads)
        out_console = console if shard.is_main else Console(stderr=True, quiet=True)
        run = MetaRun(rec, out, seed=seed, device=device, resume=resume, log=out_console.print, shard=shard)
        if init_controller and not resume:
            note = run.trainer.init_from(init_controller)
            if note:
                out_console.print(f"[yellow]{note}[/]")
    except (RecipeError, RunError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    where = f"{device}, {shard.world_size} processes" if shard.active else device
    out_console.print(f"meta-training [bold]{run.recipe.name}[/] -> {out} (seed {run.seed}, {where})")
    try:
        with meta_progress(out_console, start=run.trainer.counters.outer_step) as progress:
            summary = run.train(progress if shard.is_main else None)
        distributed.barrier(shard)
    except Interrupted as stop:
        out_console.print(f"[yellow]{stop}: checkpoint written; continue with --resume[/]")
        sys.exit(130)
    except RunError as exc:
        Console(stderr=True).print(f"[red]error{'' if shard.is_main else f' (rank {shard.rank})'}:[/] {exc}")
        sys.exit(1)
    finally:
        run.close()
        distributed.shutdown()
    out_console.print(
        f"done: best validation score vs constant LR {summary['best_score_vs_constant']:+.3f} "
        f"(log-ratio of final val loss; negative is better) at outer step {summary['best_step']}; "
        f"{summary['diverged_runs']} diverged inner runs reset"
    )
    out_console.print(f"controller: {out}/controller.pt   TensorBoard: tensorboard --logdir {out}/tb")


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("CUDA is not available on this machine", param_hint="--device")


def _split_list(value: tuple[str, ...] | str | None) -> list[str]:
    """Comma-separated and/or repeated option values as one list of non-empty names."""
    if value is None:
        return []
    items = (value,) if isinstance(value, str) else value
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def _lr_factors(ctx, param, value: str) -> list[float]:
    try:
        factors = [float(x) for x in _split_list(value)]
    except ValueError:
        raise click.BadParameter(f"must be comma-separated numbers, got {value!r}") from None
    if not factors or any(not (f > 0 and f != float("inf")) for f in factors):
        raise click.BadParameter(f"must be positive finite numbers, got {value!r}")
    return factors


def _compare_command_line(params: dict, tasks: list[str], methods: list[str]) -> str:
    """The canonical command that reproduces a compare run (recorded in results.json / results.md)."""
    p = params
    parts = [f"lropt compare --task {','.join(tasks)} --controller {p['controller']}",
             f"--methods {','.join(methods)} --seeds {p['seeds']} --regime {p['regime']}",
             f"--lr-factors {','.join(f'{f:g}' for f in p['lr_factors'])} --optimizer {p['optimizer']}"]
    if p["steps"]:
        parts.append(f"--steps {p['steps']}")
    if p["eval_every"]:
        parts.append(f"--eval-every {p['eval_every']}")
    if p["regime"] != "defaults":
        parts.append(f"--tune-grid-points {p['tune_grid_points']} --tune-seeds {p['tune_seeds']}")
    if p["divergence_factor"] != 2.0:
        parts.append(f"--divergence-factor {p['divergence_factor']:g}")
    if not p["tell_total_steps"]:
        parts.append("--no-total-steps")
    if p["lropt_every"] != 1:
        parts.append(f"--lropt-every {p['lropt_every']}")
    parts.append(f"--device {p['device']} --threads {p['threads']}")
    return " ".join(parts)


@cli.command()
@click.option("--task", "tasks", multiple=True, required=True, metavar="NAME",
              help="Task to compare on (repeatable or comma-separated); see `lropt tasks`.")
@click.option("--controller", default="default", show_default=True, metavar="PATH|NAME",
              help="Controller file, or a shipped name (default, identity).")
@click.option("--methods", default=None, metavar="A,B,...",
              help="Baselines (default: every classic schedule, plus schedulefree, prodigy, hypergradient "
                   "where installed). lropt is always included.")
@click.option("--seeds", default=5, show_default=True, type=int, callback=_positive_int,
              help="Init seeds per method and cell.")
@click.option("--regime", default="defaults", show_default=True, type=click.Choice(["defaults", "tuned", "both"]),
              help="defaults: every method at the task's usual LR; tuned: baselines LR-tuned first.")
@click.option("--lr-factors", default="0.1,1,10", show_default=True, callback=_lr_factors,
              help="Base LR multiples to run at (robustness to a mis-set LR).")
@click.option("--steps", type=int, default=None, callback=_positive_int, help="Training steps (default: the task's).")
@click.option("--eval-every", type=int, default=None, callback=_positive_int,
              help="Evaluate every N steps (default: steps // 25).")
@click.option("--optimizer", default="adamw", show_default=True, type=click.Choice(["adamw", "adam", "sgd"]))
@click.option("--tune-grid-points", default=7, show_default=True, type=int, callback=_positive_int,
              help="LR grid size for --regime tuned/both (half a decade apart).")
@click.option("--tune-seeds", default=3, show_default=True, type=int, callback=_positive_int,
              help="Seeds per grid point when tuning.")
@click.option("--divergence-factor", default=2.0, show_default=True, type=float,
              help="A run stops as diverged when its training loss exceeds this multiple of its first "
                   "(inf: only on NaN/inf).")
@click.option("--total-steps/--no-total-steps", "tell_total_steps", default=True, show_default=True,
              help="Tell lropt's wrapper the run length (total_steps); --no-total-steps runs it as a training "
                   "loop that does not (no progress feature).")
@click.option("--lropt-every", default=1, show_default=True, type=int, callback=_positive_int,
              help="Run lropt's controller every N steps (the wrapper's every=N; the multiplier is held in "
                   "between).")
@click.option("--out", default="runs/compare", show_default=True, type=click.Path(file_okay=False),
              help="Output directory: results.json, results.md, compare.png, tb/, and runs.jsonl (every finished "
                   "run, reused by a later command that needs the same run: a killed comparison resumes).")
@click.option("--fresh", is_flag=True, help="Discard the finished runs kept in --out and run everything again.")
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda.")
@click.option("--threads", default=1, show_default=True, type=int, callback=_positive_int,
              help="torch CPU threads for the runs.")
def compare(tasks, controller, methods, seeds, regime, lr_factors, steps, eval_every, optimizer, tune_grid_points,
            tune_seeds, divergence_factor, tell_total_steps, lropt_every, out, fresh, device, threads):
    """Compare lropt against LR schedules and LR-free optimizers, side by side."""
    import time
    from pathlib import Path

    from .bench.compare import compare as run_compare
    from .bench.compare import resolve_methods, resolve_task
    from .progress import compare_progress
    from .bench.journal import JournalBusy, JournalWriteError
    from .bench.report import rich_table, write_all
    from .controller_file import resolve_controller

    _check_device(device)
    if not divergence_factor > 1:
        raise click.BadParameter(f"must be > 1, got {divergence_factor}", param_hint="--divergence-factor")
    try:
        task_objs = [resolve_task(name) for name in dict.fromkeys(_split_list(tasks))]
        method_list = resolve_methods(None if methods is None else _split_list(methods))[1:]
        ctrl = resolve_controller(controller)
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from None
    journal = Path(out) / "runs.jsonl"
    command = _compare_command_line(click.get_current_context().params, [t.name for t in task_objs], method_list)
    start = time.perf_counter()
    try:
        with compare_progress(console) as progress:
            result = run_compare(task_objs, controller=ctrl, methods=method_list, seeds=seeds, optimizer=optimizer,
                                 lr_factors=lr_factors, regime=regime, tune_grid_points=tune_grid_points,
                                 tune_seeds=tune_seeds, steps=steps, eval_every=eval_every, device=device,
                                 progress=progress, threads=threads, divergence_factor=divergence_factor,
                                 tell_total_steps=tell_total_steps, lropt_every=lropt_every, journal=journal,
                                 fresh=fresh)
    except JournalBusy as exc:
        raise click.UsageError(str(exc)) from None
    except JournalWriteError as exc:
        console.print(f"[red]error:[/red] {exc.strerror}; the same command resumes from them once there is room")
        sys.exit(1)
    except KeyboardInterrupt:
        console.print(f"stopped: the finished runs are kept in {journal}; the same command resumes from them")
        sys.exit(130)
    result["meta"]["controller"]["spec"] = controller
    paths = write_all(result, out, command=command)
    console.print(f"wrote {paths['json']}, {paths['markdown']}, {paths['png']}; "
                  f"TensorBoard: tensorboard --logdir {paths['tensorboard']}")
    kept = result["meta"]["kept_runs"]
    console.print(f"{result['meta']['runs']} runs in {time.perf_counter() - start:.1f} s"
                  + (f"; {kept} more were kept in {journal} from an earlier start (--fresh: run them again)"
                     if kept else ""))
    if result["meta"]["damaged_journal_lines"]:
        console.print(f"[yellow]note:[/yellow] {result['meta']['damaged_journal_lines']} damaged lines in {journal} "
                      "were skipped (a run they held was run again)")
    # Piped output has no terminal width to respect: give the table room rather than truncating cells.
    (console if console.is_terminal else Console(width=160)).print(rich_table(result))


from .tasks.cli_table import tasks_command  # noqa: E402  (kept beside the task registry it formats)

cli.add_command(tasks_command)


def main() -> None:
    cli(prog_name="lropt")


if __name__ == "__main__":
    sys.exit(main())
