"""Issue 25's command-line robustness items: `--json` never replaces what is not a regular file
(a symbolic link is written through, a FIFO and a character device are written in place, a
block device is refused before the run); JSON input nested deep gives one line and exit 2, not
SIGSEGV; a misspelled `--network`, out-of-range header numbers and odd entries of a fixture
folder are reported; Ctrl-C and SIGTERM end every command's child processes without a
traceback, and `bench` keeps what finished."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "fixtures" / "ethereum-tests-sample"
STATE_FILE = SAMPLE / "GeneralStateTests" / "stCodeSizeLimit" / "codesizeInit.json"
BLOCK_FILE = SAMPLE / "BlockchainTests" / "ValidBlocks" / "bcStateTests" / "simpleSuicide.json"
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
WAIT = 120.0


def cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        **kwargs,  # type: ignore[arg-type]
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def statetest_json(target: Path) -> subprocess.CompletedProcess[str]:
    return cli("statetest", str(STATE_FILE), "--no-progress", "--json", str(target))


# --- --json onto what is not a regular file ---------------------------------------------------


def test_json_onto_a_symlink_writes_through(tmp_path: Path) -> None:
    real = tmp_path / "results" / "run.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    proc = statetest_json(link)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["mode"] == "interp"


def test_json_onto_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "latest.json"
    link.symlink_to(tmp_path / "new.json")
    assert statetest_json(link).returncode == 0
    assert link.is_symlink() and json.loads((tmp_path / "new.json").read_text())


def test_json_onto_a_fifo_writes_into_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:
            received.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = statetest_json(fifo)
    reader.join(WAIT)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(received[0])["mode"] == "interp"


@pytest.mark.skipif(not ROOT, reason="creating device nodes needs root")
def test_json_onto_a_character_device_writes_into_it(tmp_path: Path) -> None:
    """A node of /dev/null's device (1, 3): run as root, the old writer replaced it by a
    regular file (`--json /dev/null` destroyed the system's)."""
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    before = os.lstat(null)
    assert statetest_json(null).returncode == 0
    after = os.lstat(null)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


@pytest.mark.skipif(not ROOT, reason="needs root, like the case it guards")
def test_json_onto_dev_null_as_root_keeps_it() -> None:
    before = os.stat("/dev/null")
    assert statetest_json(Path("/dev/null")).returncode == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert after.st_rdev == before.st_rdev


@pytest.mark.skipif(not ROOT, reason="creating device nodes needs root")
def test_json_onto_a_block_device_is_refused_before_the_run(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    os.mknod(disk, stat.S_IFBLK | 0o600, os.makedev(7, 250))  # a loop device number
    proc = statetest_json(disk)
    one_line_error(proc, "--json", "block device")
    assert stat.S_ISBLK(os.lstat(disk).st_mode)


# --- input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["statetest", "blocktest", "bench"])
def test_deeply_nested_json_is_one_line_not_a_crash(tmp_path: Path, command: str) -> None:
    nested = tmp_path / "deep.json"
    nested.write_text('{"t": ' + "[" * 200_000 + "]" * 200_000 + "}")
    proc = cli(command, str(nested), *(["--no-progress"] if command != "bench" else []))
    one_line_error(proc, "deep.json", "nested deeper")


def test_misspelled_network_is_bad_input() -> None:
    one_line_error(
        cli("blocktest", str(BLOCK_FILE), "--network", "Cancn", "--no-progress"),
        "unknown network",
    )


def test_network_transition_names_are_accepted() -> None:
    proc = cli(
        "blocktest", str(BLOCK_FILE), "--network", "ShanghaiToCancunAtTime15k", "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [("currentNumber", "-0x01"), ("currentNumber", "0x1" + "0" * 16), ("currentGasLimit", "-1"),
     ("currentTimestamp", "0x" + "ff" * 40), ("currentBaseFee", "0x1" + "0" * 64)],
)  # fmt: skip
def test_header_numbers_out_of_range_are_bad_input(tmp_path: Path, field: str, value: str) -> None:
    data = json.loads(STATE_FILE.read_text())
    for test in data.values():
        test["env"][field] = value
    path = tmp_path / "bad-env.json"
    path.write_text(json.dumps(data))
    one_line_error(cli("statetest", str(path), "--no-progress"), field, "bad-env.json")


def test_odd_entries_of_a_fixture_folder_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "tests"
    folder.mkdir()
    shutil.copy(STATE_FILE, folder / "good.json")
    (folder / "dangling.json").symlink_to(tmp_path / "missing.json")
    os.mkfifo(folder / "pipe.json")
    (folder / "folder.json").mkdir()
    proc = cli("statetest", str(folder), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("skipped ")]
    assert sorted(skipped) == sorted(
        [
            f"skipped {folder / 'dangling.json'}: a dangling symbolic link",
            f"skipped {folder / 'folder.json'}: a folder",
            f"skipped {folder / 'pipe.json'}: a FIFO",
        ]
    )


# --- signals ------------------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_with_child(*args: str) -> tuple[subprocess.Popen[str], set[int]]:
    """A command in a session of its own (as at a terminal), once it has a child process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyevm_jit.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
        # Ctrl-C as at a terminal: a background job of a shell without job control (`cmd &` in
        # a script, nohup) starts with SIGINT ignored, and Python then keeps it ignored
        preexec_fn=_sigint_default,
    )
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        kids = _children(proc.pid)
        if kids:
            time.sleep(3.0)  # the child is importing, then running
            return proc, kids
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"no child process started: {proc.communicate()[1][-2000:]}")


def _ended(pids: set[int]) -> bool:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_fuzz_interrupted_ends_its_worker_without_a_traceback(how: str, tmp_path: Path) -> None:
    proc, kids = _start_with_child("fuzz", "--seconds", "120", "--out", str(tmp_path))
    try:
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # the terminal signals its foreground group
        else:
            proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode == 130, err
    assert _ended(kids), "worker left running"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_bench_interrupted_keeps_what_finished(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    for name in ("counter.json", "factorial.json"):
        shutil.copy(REPO / "fixtures" / "bench" / name, cases / name)
    report = tmp_path / "bench.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyevm_jit.cli", "bench", str(cases), "--min-time", "0.05",
         "--no-pyrevm", "--json", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        finished = ""
        for line in proc.stderr:  # the progress lines
            if "over stock" in line or "ERROR" in line:
                finished = line
                break
        assert finished, "no case finished"
        kids = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode == 130
    assert "interrupted: " in out
    data = json.loads(report.read_text())
    assert data["interrupted"] is True and len(data["cases"]) >= 1
    assert _ended(kids)
