"""Controller files: the deployable artifact (weights + feature spec + config + format version).

A controller file is a ``torch.save`` dict loaded with ``weights_only=True``::

    {"format": "lropt-controller", "format_version": 1,
     "feature_spec": {"version": 1, "names": [...]},
     "config": {...LRController kwargs...},
     "state_dict": {...}, "metadata": {...}}

It holds nothing of meta-training (outer optimizer, RNG, truncation state):
that lives in the separate ``checkpoint.pt`` of a meta-training run.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Callable

import torch

from . import features as F
from .controller import LRController

FORMAT = "lropt-controller"
FORMAT_VERSION = 1

#: Migrations from older format versions: ``{old_version: fn(payload) -> payload of old_version + 1}``.
#: Version 1 is the first format, so there is nothing to migrate yet.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


def shipped_controllers() -> dict[str, Path]:
    """Names of the controllers shipped inside the package, mapped to their files."""
    folder = resources.files("lropt") / "controllers"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".pt")}


def save_controller(controller: LRController, path: str | os.PathLike, *, metadata: dict | None = None) -> Path:
    """Write ``controller`` to ``path`` atomically (temporary file, fsync, rename)."""
    if not isinstance(controller, LRController):
        raise TypeError(f"save_controller expects an LRController, got {type(controller).__name__}")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "feature_spec": F.feature_spec(),
        "config": dict(controller.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in controller.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    path = Path(path)
    atomic_torch_save(payload, path)
    return path


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over it.

    A crash at any point leaves either the old file or the new one, never a torn one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _refuse(path, reason: str) -> ValueError:
    return ValueError(f"cannot load controller file {str(path)!r}: {reason}")


def with_zero_inputs(weights: dict, count: int = 1) -> dict:
    """Controller weights with ``count`` zero input columns appended for features added since they were
    trained (spec 1 -> 2: ``grad_align``; 2 -> 3: ``val_vs_best``): the controller computes exactly what
    it computed before and ignores the new inputs."""
    w = weights["cell.weight_ih"]
    return dict(weights, **{"cell.weight_ih": torch.cat([w, w.new_zeros(w.shape[0], count)], dim=1)})


def _appending(name: str, new_version: int) -> Callable[[dict], dict]:
    """The controller-file migration that appends the feature ``name`` as a zero input (spec ``new_version``)."""
    def migrate(payload: dict) -> dict:
        payload = dict(payload, config=dict(payload["config"]), state_dict=with_zero_inputs(payload["state_dict"]))
        payload["config"]["num_features"] = payload["state_dict"]["cell.weight_ih"].shape[1]
        payload["feature_spec"] = {"version": new_version, "names": [*payload["feature_spec"]["names"], name]}
        return payload

    return migrate


#: Upgrades of older feature specs that keep a controller's behaviour: ``{old version: (names, fn)}``.
FEATURE_MIGRATIONS: dict[int, tuple[list[str], Callable[[dict], dict]]] = {
    1: (list(F.FEATURE_NAMES[:9]), _appending("grad_align", 2)),
    2: (list(F.FEATURE_NAMES[:10]), _appending("val_vs_best", 3)),
}


def _upgrade_features(payload: dict) -> dict:
    """Apply :data:`FEATURE_MIGRATIONS` while the file's feature spec is an older known one."""
    spec = payload.get("feature_spec")
    while isinstance(spec, dict) and spec.get("version") in FEATURE_MIGRATIONS:
        names, fn = FEATURE_MIGRATIONS[spec["version"]]
        weights = payload.get("state_dict")
        if spec.get("names") != names or not isinstance(weights, dict) or "cell.weight_ih" not in weights:
            break
        payload = fn(payload)
        spec = payload["feature_spec"]
    return payload


def load_controller(path: str | os.PathLike, *, map_location="cpu") -> LRController:
    """Load a controller file, refusing a missing, corrupt, mismatched or newer file with the reason."""
    path = Path(path)
    if not path.is_file():
        raise _refuse(path, "no such file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise _refuse(path, f"not a readable torch file (corrupt or truncated?): {exc.__class__.__name__}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _refuse(path, f"not an lropt controller file (missing format tag {FORMAT!r})")
    version = payload.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise _refuse(path, f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise _refuse(
            path, f"written by a newer lropt (format version {version}; this lropt reads up to {FORMAT_VERSION})"
        )
    while version < FORMAT_VERSION:
        if version not in MIGRATIONS:
            raise _refuse(path, f"format version {version} is no longer supported and has no migration")
        payload = MIGRATIONS[version](payload)
        version += 1
    payload = _upgrade_features(payload)
    spec, want = payload.get("feature_spec"), F.feature_spec()
    if spec != want:
        raise _refuse(
            path,
            f"built for feature spec {spec!r}, but this lropt computes {want!r}; "
            "re-train the controller or use a matching lropt version",
        )
    try:
        controller = LRController(**payload["config"])
        controller.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise _refuse(path, f"weights do not match the config: {exc}") from exc
    controller.metadata = payload.get("metadata", {})
    return controller


def resolve_controller(spec) -> LRController | None:
    """Turn the wrapper's ``controller=`` argument into a controller (or ``None``)."""
    if spec is None or isinstance(spec, LRController):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        shipped = shipped_controllers()
        if isinstance(spec, str) and spec in shipped:
            return load_controller(shipped[spec])
        if Path(spec).exists() or str(spec).endswith(".pt") or os.sep in str(spec):
            return load_controller(spec)
        raise ValueError(
            f"unknown controller {spec!r}: not a shipped controller (available: {', '.join(sorted(shipped))}) "
            "and not a path to a controller file"
        )
    raise TypeError(
        f"controller must be None, a shipped name, a path or an LRController, got {type(spec).__name__}"
    )
