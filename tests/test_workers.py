"""Worker processes end with their parent: a parent killed with SIGKILL (a notebook kernel killed by a
timeout or an interrupt) leaves no orphan behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its (dead) parent's reaper counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_killing_the_parent_ends_parallel_map_workers(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import os, pathlib, time
        from sparsekit.utils import parallel_map

        def job(i):
            pathlib.Path({str(pids)!r}, str(os.getpid())).write_text("")
            time.sleep(300)

        if __name__ == "__main__":
            parallel_map(job, [(0,), (1,)], workers=2, show_progress=False)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    try:
        for _ in range(300):
            if len(list(pids.iterdir())) == 2:
                break
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2 and all(alive(w) for w in workers), "the workers did not start"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.time() + 10
        while time.time() < deadline and any(alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(alive(w) for w in workers), f"orphaned workers still running: {workers}"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in pids.iterdir():
            try:
                os.kill(int(p.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
