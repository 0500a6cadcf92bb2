"""The service's Python footprint (issue 13): the PSS of its whole process tree, measured at start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import psutil
import pytest

from portal.jobs.footprint import pss_mib, python_footprint_mib, service_root, tree
from tests.web.server import Server


def test_a_tree_counts_every_process_in_it() -> None:
    me = psutil.Process(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        members = tree(me)
        assert child.pid in {process.pid for process in members}
        assert sum(pss_mib(process) for process in members) > pss_mib(me) > 0
        assert service_root().pid == me.pid  # not under gunicorn: this process is the service
        assert python_footprint_mib() >= int(sum(pss_mib(process) for process in members))
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("in_web_worker", [False, True], ids=["consumer-process", "consumer-in-worker"])
def test_the_embedded_consumer_measures_the_whole_service_at_start(tmp_path, in_web_worker: bool) -> None:
    server = Server(tmp_path, env={"WTF_EMBEDDED_IN_WEB_WORKER": str(int(in_web_worker))}).start()
    try:
        deadline = time.monotonic() + 120  # a bound, as the server's start: the consumer may start later
        found = None
        while found is None and time.monotonic() < deadline:
            found = re.search(r"Python processes hold (\d+) MiB", (tmp_path / "server.log").read_text())
            time.sleep(0.5)
        assert found, "the consumer logs the footprint it measured"
        # the whole tree (master, worker, consumer process if any): more than its largest process alone
        master = psutil.Process(server.process.pid)
        children = master.children()
        assert len(children) == (1 if in_web_worker else 2)  # no third interpreter with the consumer inside
        assert int(found[1]) > max(pss_mib(child) for child in children)
    finally:
        server.stop()
