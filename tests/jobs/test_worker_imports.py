"""The worker and the job state machine run without the web: no Flask in a worker process (DESIGN 2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from huey.registry import Message

from portal.config import load_settings
from portal.database import Job
from portal.jobs.state import NewJob, submit
from portal.jobs.status import JobStatus
from portal.jobs.tasks import register_tasks
from portal.runtime import Runtime
from portal.storage.objects import UPLOADS
from tests import apptools
from tests.web.server import KEY

WEB_MODULES = "[m for m in sys.modules if m == 'flask' or m.startswith(('flask.', 'portal.web.'))]"

# A worker's life in one fresh interpreter: an upload is branded through the worker's own path, and the
# job's end owes its webhook (whose body is the JOB object, with signed links). Nothing is sent: the
# sender thread is not started, the delivery row is what is checked.
WEBHOOK_JOB_END = f"""
import json, sys
from pathlib import Path
from portal.jobs import tasks
from portal.config import load_settings
from portal.database import WebhookDelivery
from portal.jobs.state import NewJob, submit
from portal.runtime import Runtime
from portal.storage.objects import UPLOADS

settings = load_settings(**json.loads(sys.argv[1]))
settings.ensure_dirs()
runtime = tasks.register_tasks(Runtime(settings))
runtime.db.upgrade()
ref = runtime.storage.store(Path(sys.argv[2]), UPLOADS)
new = NewJob("render", "upload", "clip.mp4", ref, ["watchthefall"], "source", webhook_url=sys.argv[3])
[job_id] = submit(runtime.db, [new])
tasks.process_job(runtime, job_id)
with runtime.db.session() as session:
    [body] = [d.body for d in session.query(WebhookDelivery).filter_by(job_id=job_id)]
print(json.dumps({{"web": sorted({WEB_MODULES}), "body": json.loads(body)}}))
"""


def test_the_worker_and_the_state_machine_load_no_flask_or_web_module() -> None:
    script = (
        "import json, sys, portal.jobs.state, portal.runtime, portal.jobs.tasks, portal.commands.service\n"
        f"print(json.dumps(sorted({WEB_MODULES})))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


def test_a_webhook_job_ends_in_the_worker_without_flask(tmp_path: Path, clip: Path) -> None:
    """The webhook's JOB object is built in the worker with the settings alone, and it is the API's."""
    data_dir = tmp_path / "data"
    settings = {**apptools.TEST_SETTINGS, "data_dir": data_dir, "webhook_secret": "w" * 20}
    upload = shutil.copy(clip, tmp_path / "d5e6f7a8b9c0.mp4")  # the worker's storage moves it
    hook = "http://127.0.0.1:9/hook"
    result = subprocess.run(
        [sys.executable, "-c", WEBHOOK_JOB_END, json.dumps(settings, default=str), str(upload), hook],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    worker = json.loads(result.stdout.splitlines()[-1])
    assert worker["web"] == []
    body = worker["body"]
    assert body["event"] == "job.completed" and body["job"]["status"] == JobStatus.COMPLETED
    assert body["job"]["webhook_url"] == hook and len(body["job"]["outputs"]) == 1

    # The same job as the API shows it: the same object, links signed the same way (the expiry is
    # rounded to the minute, so the two links may differ by a minute's expiry; both must open).
    client = apptools.make_app(data_dir, webhook_secret=settings["webhook_secret"]).test_client()
    api_job = client.get(f"/api/jobs/{body['job']['id']}", headers={"X-Portal-Key": KEY}).get_json()["job"]
    (api_output,) = api_job["outputs"]
    (hook_output,) = body["job"]["outputs"]
    assert urlsplit(hook_output["url"]).path == urlsplit(api_output["url"]).path
    without_links = [{**output, "url": None} for output in (hook_output, api_output)]
    assert without_links[0] == without_links[1]
    # the delivery the API lists was owed in the same transaction, after the body was fixed
    assert {**body["job"], "outputs": None} == {**api_job, "outputs": None, "webhooks": []}
    opened = client.get(hook_output["url"])  # no key: the signature is the permission
    assert opened.status_code == 200 and opened.mimetype == "video/mp4"


def test_a_message_queued_under_the_old_layout_still_runs(tmp_path: Path, clip: Path) -> None:
    """A deployment upgraded with jobs on its queue: a message whose task is named as the flat layout named
    it (`portal.tasks.process_job`) is taken by the new worker and renders its job."""
    settings = load_settings(**{**apptools.TEST_SETTINGS, "data_dir": tmp_path / "data"})
    settings.ensure_dirs()
    runtime = register_tasks(Runtime(settings))
    runtime.db.upgrade()
    ref = runtime.storage.store(Path(shutil.copy(clip, tmp_path / "a1b2c3d4e5f6.mp4")), UPLOADS)
    [job_id] = submit(runtime.db, [NewJob("render", "upload", "clip.mp4", ref, ["watchthefall"], "source")])
    old = Message(
        "m1", "portal.tasks.process_job", None, 0, None, None, (job_id,), {}, None, None, None, None
    )
    runtime.huey.storage.enqueue(runtime.huey.serializer.serialize(old))

    runtime.huey.execute(runtime.huey.dequeue())

    with runtime.db.session() as session:
        assert session.get(Job, job_id).status == JobStatus.COMPLETED
