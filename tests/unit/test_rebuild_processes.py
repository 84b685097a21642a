"""A rebuild's replaying processes end with the rebuild, even one killed outright (SIGKILL runs no cleanup)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from services.reporting.write.processes import exit_with_parent

#: A parent, spawned as the rebuild spawns its replaying processes, whose child only waits: the parent prints the
#: child's pid and sleeps until killed.
PARENT = """
import multiprocessing, sys, time
from tests.unit.test_rebuild_processes import replaying
if __name__ == "__main__":
    child = multiprocessing.get_context("spawn").Process(target=replaying, args=(sys.argv[1] == "watch",))
    child.start()
    print(child.pid, flush=True)
    time.sleep(60)
"""


def replaying(watch: bool) -> None:
    if watch:
        threading.Thread(target=exit_with_parent, daemon=True).start()
    time.sleep(60)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for init to reap it has ended
        return stat.read().split()[2] != "Z"


@pytest.mark.parametrize("watch", [True, False])
def test_a_replaying_process_ends_when_its_rebuild_is_killed(watch: bool) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, "watch" if watch else "no"], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + (10 if watch else 2)
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(child) is not watch  # without the watch it outlives its parent, as it did before
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
