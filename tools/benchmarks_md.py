"""Render benchmark JSON files (bench_overhead.py, bench_meta.py) as Markdown tables for BENCHMARKS.md.

    python tools/benchmarks_md.py overhead_cpu.json meta_cuda.json ...

Each table is preceded by the command, the machine and the date recorded in
its JSON, so every number in BENCHMARKS.md carries where it came from.
"""
import json
import sys


def _header(data: dict) -> str:
    m, c = data["machine"], data["config"]
    return (f"`{c.get('command', '?')}`  \n{m['device_name']} ({m['device']}), torch {m['torch']}, "
            f"lropt {m['lropt']}, {m['threads']} threads, {m['date']}\n")


def overhead_table(data: dict) -> str:
    rows = ["| workload | variant | params | bare ms/step | lropt ms/step | ratio | base optimizer | sync-free |",
            "|---|---|---:|---:|---:|---:|---|---|"]
    for r in data["results"]:
        if r.get("error"):
            rows.append(f"| {r['workload']} | {r['variant']} | | | | | error: {r['error'][:60]} | |")
            continue
        check = r.get("sync_check") or {}
        sync = {True: "pass", False: "FAIL"}.get(check.get("passed"), "-")
        rows.append(f"| {r['workload']} | {r['variant']} | {r['params']:,} | {r['bare_ms']:.3f} | "
                    f"{r['wrapped_ms']:.3f} | {r['ratio']:.2f}x | {r['base_optimizer']} | {sync} |")
    return "\n".join(rows)


def meta_table(data: dict) -> str:
    rows = ["| family | estimator | runs | inner steps/s | ms/outer step | MiB/task |",
            "|---|---|---:|---:|---:|---:|"]
    for r in data["results"]:
        if r.get("error"):
            rows.append(f"| {r['family']} | {r['estimator']} | {r['runs']} | error | | |")
            continue
        mem = r.get("mem_per_task_mib")
        rows.append(f"| {r['family']} | {r['estimator']} | {r['runs']} | {r['inner_steps_per_s']:,.0f} | "
                    f"{r['median_outer_step_ms']:.0f} | {'-' if mem is None else f'{mem:.2f}'} |")
    return "\n".join(rows)


def render(path: str) -> str:
    with open(path) as fh:
        data = json.load(fh)
    first = data["results"][0] if data.get("results") else {}
    table = overhead_table(data) if "wrapped_ms" in first or "workload" in first else meta_table(data)
    return _header(data) + "\n" + table + "\n"


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("\n".join(render(p) for p in sys.argv[1:]))


if __name__ == "__main__":
    main()
