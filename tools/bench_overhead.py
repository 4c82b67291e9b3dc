"""What does wrapping an optimizer with lropt cost per training step?

Measures the full training step (forward + backward + ``step``) of a bare base
optimizer against the same optimizer wrapped in :class:`lropt.LROptimizerWrapper`
(``opt.step(loss=loss)``), side by side in one process: two copies of the model
from the same init, timed in alternating blocks of ``--block`` steps (ABBA
order), each block bracketed by a device sync; the per-step time is the median
over blocks after warm-up. Ratios carry over between machines, absolute numbers
do not (the header records device, torch version and date).

The controller is the shipped ``default`` (``--controller`` picks another): on
every controller step it computes the features, runs the GRU and snapshots the
parameters for the update-to-weight ratio, exactly the cost a user pays. The
multiplier it sets does not change the cost of the base step.

Variants: ``every=1`` and ``every=10`` (controller every N steps), ``compile``
(every=1 with ``LROptimizerWrapper(compile=True)``: the features and the
controller as one ``torch.compile`` graph; warm-up covers the compile); on CUDA the
base optimizer is fused AdamW with a tensor LR on the device (the sync-free
configuration), plus ``float-lr`` (foreach AdamW, float LR: the wrapper reads
the multipliers to the host on each controller step) and ``graph`` (fused,
capturable AdamW; the optimizer step alone is captured in a CUDA graph and
replayed, for both arms; a capture failure is reported in the table row). On
CUDA also: peak-memory delta of the wrapped over the bare arm, and one wrapped
step under ``torch.cuda.set_sync_debug_mode("error")``.

Usage::

    python tools/bench_overhead.py [--device cpu|cuda] [--workloads tiny-mlp,mlp-2m,...]
        [--variants every=1,every=10,compile,float-lr,graph] [--steps 400] [--controller default|PATH]
        [--quick] [--out overhead.json]

Prints a table last and writes JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from lropt import LROptimizerWrapper, __version__ as lropt_version

BASE_LR = 1e-3


# ----------------------------------------------------------------------------- workloads
class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs and a shortcut), as in torchvision."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.short(x))


def own_resnet18(num_classes: int = 10) -> nn.Module:
    """ResNet-18 with torchvision's layout (7x7 stem, max-pool, [2, 2, 2, 2] blocks), for when it is missing."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    c_in = 64
    for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


class TinyLM(nn.Module):
    """Decoder-only LM from ``nn.TransformerEncoder`` with a causal mask (pre-norm, no dropout)."""

    def __init__(self, vocab: int, d_model: int, layers: int, heads: int, seq: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.zeros(seq, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq), persistent=False)

    def forward(self, tokens):
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        x = self.body(x, mask=self.mask, is_causal=True)
        return self.head(self.norm(x))


def _mlp(sizes) -> nn.Module:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def _classify(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def _lm_loss(model, batch):
    tokens, targets = batch
    logits = model(tokens)
    return nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())


@dataclass
class Workload:
    """A model builder, a batch maker and a loss; ``cuda_only`` workloads are skipped on the CPU."""

    name: str
    build: Callable[[], nn.Module]
    batch: Callable[[torch.Generator, torch.device], tuple]
    loss: Callable
    batch_size: int
    cuda_only: bool = False
    amp: bool = False          # bf16 autocast (CUDA)
    note: str = ""


def _resnet():
    try:
        import torchvision

        return torchvision.models.resnet18(num_classes=10), "torchvision"
    except ImportError:
        return own_resnet18(10), "own"


LM = dict(vocab=6144, d_model=512, layers=6, heads=8, seq=256, batch=16)


def workloads() -> dict[str, Workload]:
    def images(n, shape, classes):
        return lambda g, dev: (torch.randn(n, *shape, generator=g).to(dev), torch.randint(classes, (n,), generator=g).to(dev))

    def tokens(g, dev):
        t = torch.randint(LM["vocab"], (LM["batch"], LM["seq"] + 1), generator=g).to(dev)
        return t[:, :-1], t[:, 1:]

    return {
        "tiny-mlp": Workload("tiny-mlp", lambda: _mlp((32, 64, 10)), images(32, (32,), 10), _classify, 32,
                             note="MLP 32-64-10, launch-bound"),
        "mlp-2m": Workload("mlp-2m", lambda: _mlp((512, 1024, 1024, 512, 10)), images(128, (512,), 10), _classify, 128,
                           note="MLP 512-1024-1024-512-10"),
        "resnet18": Workload("resnet18", lambda: _resnet()[0], images(256, (3, 32, 32), 10), _classify, 256,
                             cuda_only=True, amp=True, note=f"ResNet-18 ({_resnet_impl()}), 32x32, bf16 autocast"),
        "lm-25m": Workload("lm-25m", lambda: TinyLM(LM["vocab"], LM["d_model"], LM["layers"], LM["heads"], LM["seq"]),
                           tokens, _lm_loss, LM["batch"], cuda_only=True, amp=True,
                           note=f"transformer LM d{LM['d_model']} x{LM['layers']}, seq {LM['seq']}, bf16 autocast"),
    }


def _resnet_impl() -> str:
    try:
        import torchvision  # noqa: F401

        return "torchvision"
    except ImportError:
        return "own"


# ----------------------------------------------------------------------------- arms
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_base(model: nn.Module, variant: str, device: torch.device) -> tuple[torch.optim.Optimizer, str]:
    """The base optimizer of a variant and its description."""
    if device.type != "cuda":
        return torch.optim.AdamW(model.parameters(), lr=BASE_LR), "AdamW (default impl), float LR"
    if variant == "float-lr":
        return torch.optim.AdamW(model.parameters(), lr=BASE_LR, foreach=True), "AdamW foreach, float LR"
    lr = torch.tensor(BASE_LR, device=device)
    if variant == "graph":
        return (torch.optim.AdamW(model.parameters(), lr=lr, fused=True, capturable=True),
                "AdamW fused+capturable, tensor LR")
    return torch.optim.AdamW(model.parameters(), lr=lr, fused=True), "AdamW fused, tensor LR"


class Arm:
    """One side of the comparison: a model and its (bare or wrapped) optimizer, stepping over fixed batches."""

    def __init__(self, wl: Workload, variant: str, device: torch.device, batches: list, controller, wrapped: bool,
                 total_steps: int):
        torch.manual_seed(0)
        self.model = wl.build().to(device)
        if device.type == "cuda" and wl.name == "resnet18":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.wl, self.device, self.batches, self.wrapped = wl, device, batches, wrapped
        self.base, self.base_desc = make_base(self.model, variant, device)
        self.opt = self.base
        if wrapped:
            every = 10 if variant == "every=10" else 1
            self.opt = LROptimizerWrapper(self.base, controller=controller, every=every, total_steps=total_steps,
                                          compile=variant == "compile", capturable=variant == "graph")
        self.i = 0
        self.graph = None
        self.static_loss = None

    def autocast(self):
        if self.wl.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward_backward(self):
        batch = self.batches[self.i % len(self.batches)]
        self.i += 1
        with self.autocast():
            loss = self.wl.loss(self.model, batch)
        loss.backward()
        return loss

    def step(self, loss):
        return self.opt.step(loss=loss) if self.wrapped else self.opt.step()

    def train_step(self) -> float:
        """One training step; returns the host time spent in ``step`` (or the graph replay)."""
        if self.graph is not None:
            self.opt.zero_grad(set_to_none=False)
            self.static_loss.copy_(self.forward_backward().detach())
            t0 = time.perf_counter()
            self.graph.replay()
            return time.perf_counter() - t0
        loss = self.forward_backward()
        t0 = time.perf_counter()
        self.step(loss)
        dt = time.perf_counter() - t0
        self.opt.zero_grad(set_to_none=True)
        return dt

    def block(self, n: int) -> tuple[float, float]:
        """``n`` training steps; (wall seconds, host seconds inside step) per step."""
        _sync(self.device)
        t0, host = time.perf_counter(), 0.0
        for _ in range(n):
            host += self.train_step()
        _sync(self.device)
        return (time.perf_counter() - t0) / n, host / n

    # ------------------------------------------------------------------ CUDA graph
    def capture(self) -> None:
        """Capture the optimizer step in a CUDA graph (grads and loss live in static tensors); the
        wrapped arm uses ``capturable=True``, so its state is written in place on each replay."""
        self.static_loss = torch.zeros((), device=self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self.opt.zero_grad(set_to_none=False)
                self.static_loss.copy_(self.forward_backward().detach())
                self._captured_step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.opt.zero_grad(set_to_none=False)
        self.static_loss.copy_(self.forward_backward().detach())
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._captured_step()
        self.graph = graph

    def _captured_step(self) -> None:
        if self.wrapped:
            self.opt.step(loss=self.static_loss)
        else:
            self.opt.step()


# ----------------------------------------------------------------------------- measurements
def _error_text(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines() or [""]
    return f"{type(exc).__name__}: {lines[0][:300]}"


def sync_check(arm: Arm) -> dict:
    """One wrapped step (forward/backward outside) under ``set_sync_debug_mode("error")``."""
    loss = arm.forward_backward()
    _sync(arm.device)
    torch.cuda.set_sync_debug_mode("error")
    try:
        arm.step(loss)
        result = {"passed": True, "error": None}
    except Exception as exc:  # noqa: BLE001 - the error text is the result
        result = {"passed": False, "error": _error_text(exc)}
    finally:
        torch.cuda.set_sync_debug_mode(0)
    arm.opt.zero_grad(set_to_none=True)
    return result


def peak_memory(arm: Arm, steps: int) -> int:
    _sync(arm.device)
    torch.cuda.reset_peak_memory_stats(arm.device)
    arm.block(steps)
    return torch.cuda.max_memory_allocated(arm.device)


def run_variant(wl: Workload, variant: str, device: torch.device, args) -> dict:
    g = torch.Generator().manual_seed(1)
    batches = [wl.batch(g, device) for _ in range(4)]
    row: dict = {"workload": wl.name, "variant": variant, "note": wl.note, "batch": wl.batch_size, "error": None}
    arms: dict = {}
    bare = wrapped = None
    try:
        total = args.warmup + args.steps + 100
        arms = {w: Arm(wl, variant, device, batches, args.controller, w, total) for w in (False, True)}
        bare, wrapped = arms[False], arms[True]
        row["params"] = sum(p.numel() for p in bare.model.parameters())
        row["base_optimizer"] = bare.base_desc
        if variant == "graph":
            for name, arm in (("bare", bare), ("wrapped", wrapped)):
                try:
                    arm.capture()
                except Exception as exc:  # noqa: BLE001 - reported in the row
                    raise RuntimeError(f"capture of the {name} step failed: {_error_text(exc)}") from exc
        for _ in range(max(1, args.warmup // args.block)):
            bare.block(args.block)
            wrapped.block(args.block)
        times = {False: [], True: []}
        host = {False: [], True: []}
        for r in range(max(1, args.steps // args.block)):
            for w in ((False, True) if r % 2 == 0 else (True, False)):
                wall, h = arms[w].block(args.block)
                times[w].append(wall)
                host[w].append(h)
        ms = {w: 1e3 * statistics.median(times[w]) for w in times}
        row.update(
            bare_ms=ms[False], wrapped_ms=ms[True], ratio=ms[True] / ms[False], overhead_ms=ms[True] - ms[False],
            bare_step_host_ms=1e3 * statistics.median(host[False]),
            wrapped_step_host_ms=1e3 * statistics.median(host[True]),
            blocks=len(times[False]), block=args.block,
        )
        if device.type == "cuda" and variant != "graph":
            n = max(args.block, 10)
            row["peak_mem_delta_mib"] = (peak_memory(wrapped, n) - peak_memory(bare, n)) / 2**20
            if variant in ("every=1", "compile"):
                row["sync_check"] = sync_check(wrapped)
    except Exception as exc:  # noqa: BLE001 - one failing variant must not lose the others
        row["error"] = _error_text(exc)
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode(0)
    finally:
        arms.clear()
        bare = wrapped = None  # noqa: F841 - free both models before the next variant
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
    return row


# ----------------------------------------------------------------------------- report
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {"device": str(device), "device_name": name, "torch": torch.__version__, "lropt": lropt_version,
            "python": platform.python_version(), "platform": platform.platform(),
            "threads": torch.get_num_threads(), "cuda": torch.version.cuda,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = report["machine"]
    title = (f"lropt wrapper overhead — {m['device_name']} ({m['device']}), torch {m['torch']}, "
             f"lropt {m['lropt']}, {m['threads']} threads, {m['date']}")
    c = report["config"]
    caption = (f"median over {c['steps'] // c['block']} alternating blocks of {c['block']} steps per arm after "
               f"{c['warmup']} warm-up steps; controller={c['controller']}; full step = forward + backward + step")
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for col in ("workload", "variant", "params", "bare ms/step", "lropt ms/step", "ratio", "+ms/step",
                "step() host ms bare/lropt", "peak Δ MiB", "sync-free", "base optimizer / error"):
        table.add_column(col, justify="left" if col in ("workload", "variant", "base optimizer / error") else "right")
    for r in report["results"]:
        if r.get("error"):
            table.add_row(r["workload"], r["variant"], f"{r.get('params', 0):,}" if r.get("params") else "-",
                          *["-"] * 7, f"[red]{r['error']}[/red]")
            continue
        sync = r.get("sync_check")
        sync_s = "-" if sync is None else ("pass" if sync["passed"] else f"FAIL: {sync['error']}")
        mem = r.get("peak_mem_delta_mib")
        table.add_row(r["workload"], r["variant"], f"{r['params']:,}", f"{r['bare_ms']:.3f}", f"{r['wrapped_ms']:.3f}",
                      f"{r['ratio']:.2f}x", f"{r['overhead_ms']:+.3f}",
                      f"{r['bare_step_host_ms']:.3f} / {r['wrapped_step_host_ms']:.3f}",
                      "-" if mem is None else f"{mem:+.1f}", sync_s, r.get("base_optimizer", ""))
    Console(width=200).print(table)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workloads", default=None, help="comma list (default: all that run on the device)")
    parser.add_argument("--variants", default=None, help="comma list of every=1, every=10, compile, float-lr, graph")
    parser.add_argument("--controller", default="default", help="shipped controller name or a controller file path")
    parser.add_argument("--steps", type=int, default=400, help="timed steps per arm and variant")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--block", type=int, default=10, help="steps per timed block (a multiple of 10)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny-mlp only, a few steps")
    parser.add_argument("--out", default="bench_overhead.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    all_wl = workloads()
    names = (args.workloads.split(",") if args.workloads else
             [n for n, w in all_wl.items() if device.type == "cuda" or not w.cuda_only])
    variants = (args.variants.split(",") if args.variants else
                ["every=1", "compile", "every=10"] + (["float-lr", "graph"] if device.type == "cuda" else []))
    if args.quick:
        names, args.steps, args.warmup, args.block = ["tiny-mlp"], 40, 10, 10
    unknown = [n for n in names if n not in all_wl]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {list(all_wl)}")
    if args.block % 10:
        parser.error("--block must be a multiple of 10 (so each block holds whole every=10 periods)")

    report = {"machine": machine_info(device), "config": {
        "steps": args.steps, "warmup": args.warmup, "block": args.block, "controller": args.controller,
        "quick": args.quick, "base_lr": BASE_LR, "command": " ".join(["python"] + sys.argv)}, "results": []}
    for name in names:
        wl = all_wl[name]
        for variant in variants:
            if (wl.cuda_only or variant in ("float-lr", "graph")) and device.type != "cuda":
                report["results"].append({"workload": name, "variant": variant, "error": "skipped: CUDA only"})
                continue
            report["results"].append(run_variant(wl, variant, device, args))
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.out}")
    print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
