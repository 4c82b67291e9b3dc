"""The ``lropt`` command line: a thin click group that parses, then calls library functions."""
from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from ._version import __version__

console = Console()


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
        rows = [r for r in rows if "/features/" not in r["tag"]] or rows
    table = Table(title=f"lropt run: {run_dir}")
    for col in ("tag", "steps", "first", "min", "max", "last"):
        table.add_column(col, justify="left" if col == "tag" else "right")
    for r in rows:
        table.add_row(
            r["tag"], f"{r['first_step']}..{r['last_step']} ({r['points']})",
            *(f"{r[k]:.4g}" for k in ("first", "min", "max", "last")),
        )
    console.print(table)
    if png:
        console.print(f"wrote {plot_run(run_dir, png)}")


def main() -> None:
    cli(prog_name="lropt")


if __name__ == "__main__":
    sys.exit(main())
