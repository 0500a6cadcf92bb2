"""Web and three workers as separate processes with separate data folders: no shared disk, only
PostgreSQL (state), Redis (queue) and an S3-compatible bucket (moto's server). One worker is killed with
SIGKILL in the middle of a render; its job must complete on another worker, and nothing may be lost or
done twice."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select

from portal.database import LogEntry
from portal.video_processor import probe_media
from tests.mediagen import make_clip
from tests.storage.cluster import Cluster
from tests.storage.s3server import BUCKET, S3Server
from tests.web.server import KEY

PREFIX = "team"
JOBS = 12


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_workers_share_no_disk_and_survive_a_kill_9(
    tmp_path: Path, s3: S3Server, redis_url: str, postgres_url: str
) -> None:
    database_url = f"{postgres_url}/postgres"
    env = {
        **s3.env,
        "WTF_STORAGE_URL": f"s3://{BUCKET}/{PREFIX}",
        "WTF_DATABASE_URL": database_url,
        "WTF_QUEUE_URL": redis_url,
        "WTF_HEARTBEAT_STALE_S": "8",  # the lease timeout: a silent job is requeued after this
        "WTF_X264_PRESET": "slow",  # with the vertical preset below, the long job renders for seconds
    }
    clips = tmp_path / "clips"
    clips.mkdir()
    # One clip long enough to still be rendering when its worker is killed; the rest are short.
    long_clip = make_clip(clips / "long.mp4", width=480, height=854, duration=10)
    short = [make_clip(clips / f"short{i}.mp4", width=240, height=426, duration=1 + i / 2) for i in range(3)]
    cluster = Cluster(tmp_path / "hosts", env).start(workers=3)
    try:
        cluster.wait_ready()
        long_job = cluster.submit(long_clip, ["watchthefall"], preset="vertical")
        job_ids = [long_job] + [
            cluster.submit(short[i % 3], ["fallclips"] if i % 2 else ["watchthefall", "dailyfails"])
            for i in range(JOBS - 1)
        ]
        # Kill the worker rendering the long job, once its FFmpeg is running and progress is visible.
        assert cluster.web is not None
        wait_for(lambda: cluster.web.job(long_job)["progress"] > 0, 120, "the long job to make progress")
        victim = wait_for(
            lambda: next((w for w in cluster.workers if w.ffmpeg_of(long_job)), None), 180, "its FFmpeg"
        )
        victim.kill9()
        assert cluster.web.job(long_job)["status"] == "rendering", "killed mid-render"

        # Requeued by a surviving worker's reaper once the heartbeat is older than the lease timeout.
        done = cluster.wait_all(job_ids, timeout=300)
        assert {job["status"] for job in done.values()} == {"completed"}, cluster.logs()
        assert done[long_job]["attempts"] == 2
        assert {done[j]["attempts"] for j in job_ids[1:]} == {1}, "no other job ran twice"
        assert [w.alive for w in cluster.workers].count(True) == 2

        # Completed exactly once each: the product records one completion per run that finished. The
        # record is written just after the job shows completed, so a late worker is waited for.
        engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))

        def completions() -> dict[str, int]:
            with engine.connect() as connection:
                return dict(
                    connection.execute(
                        select(LogEntry.job_id, func.count())
                        .where(LogEntry.message.like("% outputs in %"))
                        .group_by(LogEntry.job_id)
                    ).all()
                )

        wait_for(lambda: completions().keys() >= set(job_ids), 60, "every job's completion record")
        assert completions() == dict.fromkeys(job_ids, 1)
        engine.dispose()

        # The bucket holds exactly the recorded outputs (nothing partial, nothing extra) and the uploads.
        outputs = [output for job in done.values() for output in job["outputs"]]
        assert len(outputs) == sum(len(job["brands"]) for job in done.values())
        stored = s3.keys(f"{PREFIX}/outputs/")  # each output and its cover
        videos = {key: size for key, size in stored.items() if key.endswith(".mp4")}
        assert {f"{PREFIX}/outputs/{o['filename']}": o["size_bytes"] for o in outputs} == videos
        assert sorted(key.removesuffix(".jpg") for key in stored if key.endswith(".jpg")) == sorted(
            key.removesuffix(".mp4") for key in videos
        )
        uploads = s3.keys(f"{PREFIX}/uploads/")  # each upload and its library item's cover
        assert (
            sum(key.endswith(".mp4") for key in uploads)
            == sum(key.endswith(".jpg") for key in uploads)
            == JOBS
        )
        assert s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []

        # Every output downloads through the web: its signed link redirects to the store.
        for output in outputs:
            link = f"{cluster.web.url}{output['url']}"
            answer = requests.get(link, allow_redirects=False, timeout=30)
            assert answer.status_code == 302 and answer.headers["Location"].startswith(s3.endpoint)
            body = requests.get(link, timeout=30)
            assert body.status_code == 200 and len(body.content) == output["size_bytes"]
            saved = tmp_path / output["filename"]
            saved.write_bytes(body.content)
            assert abs(probe_media(saved).duration - output["duration"]) < 0.1
            saved.unlink()
        archive = cluster.web.call("GET", f"/api/jobs/{job_ids[1]}/archive")
        assert archive.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        videos = [o["filename"] for o in done[job_ids[1]]["outputs"]]
        assert sorted(names) == sorted([*videos, *(name.removesuffix(".mp4") + ".jpg" for name in videos)])

        # No shared disk was needed: no process kept an upload or an output in its own data folder.
        for folder in [cluster.root / "web", *(w.data_dir for w in cluster.workers if w.alive)]:
            for area in ("uploads", "outputs"):
                assert not list((folder / area).glob("*")), f"{folder.name}/{area} should be empty"
            # a run removes its scratch folder after its job shows completed: a late worker is waited for
            wait_for(lambda scratch=folder / "temp": not list(scratch.glob("*")), 60,
                     f"{folder.name}'s scratch folders to be removed")  # fmt: skip
        assert requests.get(f"{cluster.web.url}/readyz", timeout=10).json()["checks"]["storage"]["ok"]
        debug = cluster.web.call("GET", "/api/debug/storage", headers={"X-Portal-Key": KEY}).json()
        assert debug["storage"]["kind"] == "s3" and debug["storage"]["bucket"] == BUCKET
    finally:
        cluster.stop()
