"""``lropt tasks``: every task and task family with its kind, size, default steps, batch size and base LR.

The lead registers :data:`tasks_command` in ``lropt/cli.py``; it only formats
what :func:`lropt.tasks.list_tasks` / :func:`lropt.tasks.list_families` return.
"""

from __future__ import annotations

import json

import click

KIND_STYLE = {"synthetic": "cyan", "offline": "green", "download": "yellow"}


def _fmt(value) -> str:
    """A number, ``(lo, hi)`` range or ``None`` as short text."""
    if value is None:
        return "-"
    if isinstance(value, (tuple, list)):
        return "-".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [_jsonable(v) for v in obj]
    return obj


def _human(n) -> str:
    if n is None:
        return "-"
    if isinstance(n, (tuple, list)):
        return "-".join(_human(v) for v in n)
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


def _table(title: str, rows: list[dict], first: str, describe: bool = True):
    """A rich table; ``describe`` adds the description column (cut with an ellipsis when too long)."""
    from rich.table import Table

    cells = [
        [
            r["name"],
            r["kind"],
            _human(r["params"]),
            _human(r.get("rows")) if r.get("rows") else "gen.",
            _fmt(r["default_steps"]),
            _fmt(r["batch_size"]),
            _fmt(r["base_lr_adam"]),
            r["description"],
        ]
        for r in rows
    ]
    headers = [first, "kind", "params", "rows", "steps", "batch", "adam LR", "description"]
    keep = [i for i, h in enumerate(headers) if (describe or h != "description") and (first != "family" or h != "rows")]
    headers, cells = [headers[i] for i in keep], [[c[i] for i in keep] for c in cells]
    table = Table(title=title, title_justify="left")
    for i, head in enumerate(headers):
        if head == "description":
            table.add_column(head, no_wrap=True, overflow="ellipsis", min_width=12)
        else:
            width = max(len(head), *(len(c[i]) for c in cells))
            table.add_column(head, no_wrap=True, min_width=width, justify="left" if i < 2 else "right")
    for row in cells:
        style = KIND_STYLE.get(row[1], "")
        row[1] = f"[{style}]{row[1]}[/]" if style else row[1]
        table.add_row(*row)
    return table


@click.command("tasks")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of tables.")
def tasks_command(as_json: bool) -> None:
    """List the task families and tasks: which are synthetic, offline, or need a download."""
    from . import list_families, list_tasks

    tasks, families = list_tasks(), list_families()
    if as_json:
        click.echo(json.dumps(_jsonable({"tasks": tasks, "families": families}), indent=2))
        return
    from rich.console import Console

    console = Console()
    describe = console.width >= 110  # below that the numbers need the room
    console.print(_table("Task families (get_family(name).sample(seed))", families, "family", describe))
    console.print(_table("Tasks (get_task(name))", tasks, "task", describe))
    console.print(
        "offline: data ships in packages; download: needs data_dir=/LROPT_DATA_DIR "
        "or network (see the task's error message)."
    )
