"""A comparison's finished runs, written to disk as each one ends, so a killed ``lropt compare`` resumes.

The file is JSON lines: a header with the journal version and the *fingerprint* (what decides a run's
outcome besides its key: optimizer, controller weights, device, divergence rule, lropt's wrapper settings,
lropt's version), then one line per run with its key (task, method, base LR, seed, steps, eval interval)
and every curve. A run read back is the run that was written: resuming changes no number. A journal whose
fingerprint differs is refused, naming the field, rather than mixed in; ``fresh=True`` starts it over.
A line cut off by a kill is dropped.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch

from .._version import __version__
from .runner import RunResult

JOURNAL_VERSION = 1
_FIELDS = {f.name for f in dataclasses.fields(RunResult)}


def controller_digest(ctrl) -> str:
    """A short hash of a controller's config and weights ("none" without one): two files with the same
    weights under other names resume each other's runs; retrained weights do not."""
    if ctrl is None:
        return "none"
    h = hashlib.sha256(json.dumps(getattr(ctrl, "config", {}), sort_keys=True, default=str).encode())
    for name, tensor in sorted(ctrl.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def fingerprint(*, optimizer: str, controller, device, divergence_factor: float, tell_total_steps: bool,
                lropt_every: int) -> dict:
    """What, beyond a run's key, decides its outcome."""
    return {"lropt_version": __version__, "optimizer": optimizer, "controller": controller_digest(controller),
            "device": str(device or "cpu"), "divergence_factor": repr(float(divergence_factor)),
            "tell_total_steps": bool(tell_total_steps), "lropt_every": int(lropt_every)}


def _key_of(fields: list) -> tuple:
    task, method, lr, seed, steps, eval_every = fields
    return (str(task), str(method), float(lr), int(seed), int(steps), int(eval_every))


class RunJournal:
    """Finished runs of one comparison at ``path``: :meth:`load` what is there, :meth:`record` each new one."""

    def __init__(self, path: str | Path, fingerprint: dict, *, fresh: bool = False):
        self.path, self.fingerprint = Path(path), dict(fingerprint)
        if fresh and self.path.exists():
            self.path.unlink()

    def load(self) -> dict[tuple, RunResult]:
        """The runs already recorded (none for a new file); a header from another comparison is a ValueError."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._write_header()
            return {}
        text = self.path.read_text()
        lines = text.split("\n")
        complete = lines[:-1]                      # the text after the last newline is a line cut off by a kill
        if lines[-1]:
            self.path.write_text("".join(line + "\n" for line in complete))
        header = self._header(complete[0] if complete else "")
        self._check(header)
        runs = {}
        for line in complete[1:]:
            try:
                entry = json.loads(line)
                runs[_key_of(entry["key"])] = RunResult(**{k: v for k, v in entry["run"].items() if k in _FIELDS})
            except (ValueError, KeyError, TypeError):
                continue                           # a damaged line: that run is simply run again
        return runs

    def record(self, key: tuple, result: RunResult) -> None:
        """Append one finished run (flushed at once: a kill after this loses nothing)."""
        line = json.dumps({"key": list(key), "run": dataclasses.asdict(result)})
        with self.path.open("a") as fh:
            fh.write(line + "\n")
            fh.flush()

    def _write_header(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"journal": JOURNAL_VERSION, "fingerprint": self.fingerprint}) + "\n")

    def _header(self, line: str) -> dict:
        try:
            header = json.loads(line)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("journal") != JOURNAL_VERSION:
            raise ValueError(f"{self.path} is not a run journal of this lropt version; pass another output "
                             "directory, or start over (--fresh)")
        return header

    def _check(self, header: dict) -> None:
        theirs = header.get("fingerprint", {})
        for name, mine in self.fingerprint.items():
            if theirs.get(name) != mine:
                raise ValueError(f"{self.path} holds runs of another comparison ({name}: {theirs.get(name)!r} "
                                 f"there, {mine!r} now); pass another output directory, or start over (--fresh)")

