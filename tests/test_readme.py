"""The README's commands and example are the ones CI and users actually run."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_two_commands_start_a_newcomer():
    main_job, tests = bash_blocks()[:2]
    assert "lropt meta-train" in main_job and "lropt compare" in main_job
    assert "pip install" in main_job and "pip install" in tests and "pytest" in tests
    assert len(main_job.strip().splitlines()) == 1 and len(tests.strip().splitlines()) == 1


def test_ci_runs_the_readme_test_command_verbatim():
    tests = bash_blocks()[1].strip()
    ci_lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines


def test_wrap_example_runs(tmp_path, monkeypatch):
    code = re.findall(r"```python\n(.*?)```", README, flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    code = code.replace("range(1000)", "range(30)")
    namespace: dict = {}
    exec(compile(code, "README example", "exec"), namespace)
    assert namespace["opt"].get_last_lr()
    assert list((tmp_path / "runs" / "exp1").glob("events.out.tfevents.*"))
