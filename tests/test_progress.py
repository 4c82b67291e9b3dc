"""Progress displays: a live bar on a terminal, throttled plain lines anywhere else (logs, nohup, CI)."""
import io

from rich.console import Console

from lropt.progress import _Lines, compare_progress, meta_progress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def piped():
    buf = io.StringIO()
    return Console(file=buf, width=200), buf


def test_plain_lines_are_throttled_and_the_last_state_is_printed_at_the_end():
    console, buf = piped()
    clock = FakeClock()
    lines = _Lines(console, "runs", interval=30.0, clock=clock)
    for done in range(1, 10):
        clock.now += 10.0  # a run every 10 s: a line every third run
        lines.emit(done, 20, f"run {done}")
    lines.finish()
    out = buf.getvalue().splitlines()
    assert out == ["runs 3/20 (15%), 0:00:30 elapsed, ETA 0:02:50: run 3",   # 10 s a run, 17 to go
                   "runs 6/20 (30%), 0:01:00 elapsed, ETA 0:02:20: run 6",
                   "runs 9/20 (45%), 0:01:30 elapsed, ETA 0:01:50: run 9"]
    lines.finish()  # nothing held back: nothing more
    assert len(buf.getvalue().splitlines()) == 3


def test_the_last_item_prints_at_once_and_an_unknown_total_prints_no_eta():
    console, buf = piped()
    clock = FakeClock()
    lines = _Lines(console, "outer step", interval=30.0, clock=clock)
    lines.emit(1, None, "")
    clock.now += 31.0
    lines.emit(2, None, "x")
    lines.emit(5, 5, "done")
    assert buf.getvalue().splitlines() == ["outer step 2, 0:00:31 elapsed: x",
                                           "outer step 5/5 (100%), 0:00:31 elapsed: done"]


def test_a_resumed_job_estimates_its_eta_from_the_steps_it_ran_itself():
    console, buf = piped()
    clock = FakeClock()
    lines = _Lines(console, "outer step", start=50, interval=0.0, clock=clock)  # resumed at step 50
    clock.now += 10.0
    lines.emit(60, 100, "")      # 10 steps in 10 s: 40 left take 40 s
    assert buf.getvalue().splitlines()[-1] == "outer step 60/100 (60%), 0:00:10 elapsed, ETA 0:00:40"


def test_a_long_line_is_not_wrapped_at_the_consoles_width():
    buf = io.StringIO()
    lines = _Lines(Console(file=buf, width=40), "runs", interval=0.0)
    lines.emit(1, 2, "foodreviews-bow exponential lr=0.001 seed=4")
    assert len(buf.getvalue().splitlines()) == 1


def test_piped_output_gets_lines_a_terminal_gets_the_bar():
    console, buf = piped()
    with compare_progress(console) as update:
        update(1, 2, "digits-mlp constant lr=0.001 seed=0")
        update(2, 2, "digits-mlp constant lr=0.001 seed=1")
    assert buf.getvalue().splitlines() == ["runs 2/2 (100%), 0:00:00 elapsed: digits-mlp constant lr=0.001 seed=1"]

    console, buf = piped()
    with meta_progress(console) as update:
        update(3, 3, -0.1234, None, 1234.5)
    assert buf.getvalue().splitlines() == [
        "outer step 3/3 (100%), 0:00:00 elapsed: meta-loss -0.123, val -, 1,234 inner steps/s"]

    term = io.StringIO()
    with compare_progress(Console(file=term, force_terminal=True, width=200)) as update:
        update(1, 2, "a run")
    assert "runs" in term.getvalue() and "\x1b[" in term.getvalue()  # rich's live bar, with escape codes
