"""A comparison's finished runs, written to disk as each one ends, so a killed ``lropt compare`` resumes.

The journal is a cache of runs keyed by *everything that decides a run's outcome*: the task's class and
parameters, the method (for lropt also its controller weights and wrapper settings), optimizer, base LR,
seed, steps, evaluation interval and divergence rule, and the environment (lropt's source, the versions of
torch and of the baseline packages, CPU threads, device). A run is reused only under the same key, so a
resumed comparison gives the numbers a fresh one would on this checkout and machine; anything else in the
file (other tasks, seeds, another controller, older code) is left alone and simply not used.

The file holds one line per run: the key's hash, a tab, the run as JSON. Lines are appended and flushed as
runs end; a line cut off by a kill is cut away on the next start. One comparison writes to a journal at a
time (a lock file beside it).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

import torch

from ..tasks.cache_dir import cache_key
from .runner import LROPT, RunResult

JOURNAL_FORMAT = 3
_FIELDS = {f.name for f in dataclasses.fields(RunResult)}
_KEY_LEN = len(cache_key())
_PACKAGES = ("numpy", "schedulefree", "prodigyopt", "transformers", "datasets", "scikit-learn")


class JournalBusy(ValueError):
    """Another comparison is writing to this journal."""


class JournalWriteError(OSError):
    """A finished run could not be written (a full disk, say); the runs before it are kept."""


def _source_digest() -> str:
    """lropt's own source, so a run from other code is never reused."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _device_name(device) -> str:
    """``"cuda"`` and ``"cuda:0"`` (when 0 is the current GPU) are one device, so they key alike."""
    d = torch.device(device or "cpu")
    if d.type == "cuda" and d.index is None and torch.cuda.is_available():
        d = torch.device("cuda", torch.cuda.current_device())
    return str(d)


def environment(*, device, threads: int | None) -> dict:
    """What a run's outcome depends on besides its own settings."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"format": JOURNAL_FORMAT, "lropt_source": _source_digest(), "torch": torch.__version__,
            "packages": versions, "device": _device_name(device),
            "threads": torch.get_num_threads() if threads is None else int(threads)}


def controller_digest(ctrl) -> str:
    """A hash of a controller's config and weights ("none" without one)."""
    if ctrl is None:
        return "none"
    h = hashlib.sha256(json.dumps(getattr(ctrl, "config", {}), sort_keys=True, default=str).encode())
    for name, tensor in sorted(ctrl.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def task_digest(task) -> str:
    """A hash of a task's class and parameters (its description aside): the same name with another
    ``data_seed`` or size is another task."""
    fields = {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.name != "description"} \
        if dataclasses.is_dataclass(task) else dict(vars(task))
    return cache_key(cls=f"{type(task).__module__}.{type(task).__qualname__}", fields=fields)


def run_key(env: dict, *, task, method: str, optimizer: str, base_lr: float, seed: int, steps: int,
            eval_every: int, divergence_factor: float, lropt_settings: dict) -> str:
    """The hash a run is kept under. ``lropt_settings`` (controller digest, wrapper settings) count for lropt only,
    so baseline runs are shared between comparisons of different controllers."""
    return cache_key(env=env, task=task_digest(task), method=method, optimizer=optimizer,
                     base_lr=float(f"{base_lr:.12g}"), seed=int(seed), steps=int(steps), eval_every=int(eval_every),
                     divergence_factor=repr(float(divergence_factor)),
                     lropt=lropt_settings if method == LROPT else None)


class RunJournal:
    """Finished runs at ``path``. Use as a context manager (it holds the lock); :meth:`get` a kept run,
    :meth:`record` a new one."""

    def __init__(self, path: str | Path, *, fresh: bool = False):
        self.path = Path(path)
        self.fresh = fresh
        self._offsets: dict[str, int] = {}
        self._lock = self._out = None
        self.damaged = 0

    def __enter__(self) -> RunJournal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.with_name(self.path.name + ".lock"), "a")
        try:
            import fcntl
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            pass
        except OSError:
            self._lock.close()
            raise JournalBusy(f"another lropt compare is writing to {self.path}: wait for it, or pass another "
                              "--out") from None
        if self.fresh and self.path.exists():
            self.path.unlink()
        self._scan()
        self._out = open(self.path, "ab")
        return self

    def __exit__(self, *exc) -> None:
        for fh in (self._out, self._lock):
            if fh is not None:
                fh.close()
        self._out = self._lock = None

    def __len__(self) -> int:
        return len(self._offsets)

    def __contains__(self, key: str) -> bool:
        return key in self._offsets

    def _scan(self) -> None:
        """Index the kept runs by key; cut away a last line a kill left unfinished."""
        if not self.path.exists():
            return
        offset, good_end = 0, 0
        with open(self.path, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                key, tab, _ = raw.partition(b"\t")
                if tab and len(key) == _KEY_LEN:
                    self._offsets[key.decode()] = offset
                else:
                    self.damaged += 1
                offset += len(raw)
                good_end = offset
        if good_end < self.path.stat().st_size:
            os.truncate(self.path, good_end)

    def get(self, key: str) -> RunResult | None:
        """The run kept under ``key``, or ``None`` (also for a line that does not parse)."""
        offset = self._offsets.get(key)
        if offset is None:
            return None
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            _, _, payload = fh.readline().partition(b"\t")
        try:
            data = json.loads(payload)
            return RunResult(**{k: v for k, v in data.items() if k in _FIELDS})
        except (ValueError, TypeError):
            self.damaged += 1
            del self._offsets[key]
            return None

    def record(self, key: str, result: RunResult) -> None:
        """Append one finished run, flushed at once: a kill after this loses nothing."""
        if self._out is None:
            raise RuntimeError("RunJournal.record outside its with-block")
        line = f"{key}\t{json.dumps(dataclasses.asdict(result))}\n".encode()
        try:
            self._out.seek(0, os.SEEK_END)
            offset = self._out.tell()
            self._out.write(line)
            self._out.flush()
        except OSError as exc:
            raise JournalWriteError(exc.errno, f"could not write a finished run to {self.path} ({exc.strerror or exc}); "
                                    "the runs before it are kept there") from exc
        self._offsets[key] = offset
