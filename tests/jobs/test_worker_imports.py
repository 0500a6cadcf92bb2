"""The worker and the job state machine run without the web: no Flask in a worker process (DESIGN 2)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_worker_and_the_state_machine_load_no_flask_or_web_module() -> None:
    script = (
        "import json, sys, portal.jobs, portal.runtime, portal.tasks, portal.service\n"
        "web = [m for m in sys.modules if m == 'flask' or m.startswith(('flask.', 'portal.web.'))]\n"
        "print(json.dumps(sorted(web)))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []
