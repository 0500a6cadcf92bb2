"""As a user: a brand changed on the web, or published from a shipped config with `wtf-portal brands
publish`, is what a worker on another machine (its own data folder, no shared disk) draws next."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import requests
from PIL import Image

from tests.cli.runner import error_lines, write_config, wtf_portal
from tests.conftest import REPO
from tests.engine.inspect_output import colour_bbox, first_frame
from tests.mediagen import ffmpeg
from tests.storage.cluster import Cluster
from tests.storage.s3server import BUCKET, S3Server

PREFIX = "team"
GREY = 128
# watchthefall's handle is drawn at opacity 0.6: the colour seen over the grey clip
MAGENTA_OVER_GREY = tuple(round(0.6 * c + 0.4 * GREY) for c in (255, 0, 255))


def grey_clip(path: Path) -> Path:
    """One second of flat grey, so the only colours in an output are the brand's."""
    ffmpeg("-f", "lavfi", "-i", f"color=c=0x{GREY:02x}{GREY:02x}{GREY:02x}:size=360x640:rate=30:duration=1",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    return path


def rendered_frame(cluster: Cluster, clip: Path, folder: Path) -> Image.Image:
    """Brand the clip for watchthefall on the cluster; the first frame of the output, fetched by its link."""
    assert cluster.web is not None
    job_id = cluster.submit(clip, ["watchthefall"])
    job = cluster.wait_all([job_id], timeout=180)[job_id]
    assert job["status"] == "completed", (job, cluster.logs())
    [output] = job["outputs"]
    saved = folder / output["filename"]
    saved.write_bytes(requests.get(f"{cluster.web.url}{output['url']}", timeout=30).content)
    return first_frame(saved).to_image()


def publish(config: Path, env: dict[str, str], data_dir: Path):
    env = {**env, "WTF_DATA_DIR": str(data_dir)}
    return wtf_portal("brands", "publish", "--config", str(config), env=env)


def test_an_edit_and_a_published_config_are_drawn_by_a_worker_on_another_machine(
    tmp_path: Path, s3: S3Server, redis_url: str, postgres_url: str
) -> None:
    env = {
        **s3.env, "WTF_STORAGE_URL": f"s3://{BUCKET}/{PREFIX}", "WTF_QUEUE_URL": redis_url,
        "WTF_DATABASE_URL": f"{postgres_url}/postgres",
    }  # fmt: skip
    clip = grey_clip(tmp_path / "grey.mp4")
    cluster = Cluster(tmp_path / "hosts", env).start(workers=1)
    try:
        cluster.wait_ready()
        assert cluster.web is not None
        # the team changes the handle's colour and size through v3's route on the web
        answer = cluster.web.call(
            "POST", "/api/brands/watchthefall/config", json={"text_color": "#FF00FF", "text_size": 160}
        )
        assert answer.status_code == 200, answer.text
        frame = rendered_frame(cluster, clip, tmp_path)
        handle = colour_bbox(frame, MAGENTA_OVER_GREY, tolerance=40)
        assert handle is not None, "the worker drew the handle in the colour saved on the web"
        assert handle[3] - handle[1] > 0.05 * frame.height  # and at the size saved (shipped: 0.035)

        # a config that fails `brands check` is refused, one line, and the bucket keeps its brands
        before = s3.client().head_object(Bucket=BUCKET, Key=f"{PREFIX}/brands/brands.tar")["ETag"]
        bad = write_config(tmp_path, {"watchthefall": {"name": "W", "logo": {"path": "gone.png"}}})
        refused = publish(bad, env, tmp_path / "cli")
        assert refused.returncode == 2 and refused.stdout == ""
        assert len(error_lines(refused.stderr)) == len(refused.stderr.splitlines()) == 1
        assert "brand 'watchthefall'" in refused.stderr and "gone.png: file not found" in refused.stderr
        assert s3.client().head_object(Bucket=BUCKET, Key=f"{PREFIX}/brands/brands.tar")["ETag"] == before

        # an image ships a changed config: publishing it rolls it out, edits included
        shipped = tmp_path / "image"
        shipped.mkdir()
        shutil.copytree(REPO / "brands", shipped / "brands")
        config = json.loads((REPO / "brand_config.json").read_text())
        config["brands"]["watchthefall"]["watermark"] |= {"color": "#00FF00", "opacity": 1.0, "size": 0.12}
        (shipped / "brand_config.json").write_text(json.dumps(config))
        published = publish(shipped / "brand_config.json", env, tmp_path / "cli")
        assert published.returncode == 0, published.stderr
        assert f"s3://{BUCKET}/{PREFIX}/brands/brands.tar" in published.stdout
        frame = rendered_frame(cluster, clip, tmp_path)
        assert colour_bbox(frame, (0, 255, 0), tolerance=40) is not None
        assert colour_bbox(frame, MAGENTA_OVER_GREY, tolerance=40) is None
    finally:
        cluster.stop()


def test_publish_without_object_storage_has_nothing_to_do(tmp_path: Path) -> None:
    result = wtf_portal("brands", "publish", env={"WTF_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and result.stdout == ""
    assert len(error_lines(result.stderr)) == len(result.stderr.splitlines()) == 1
    assert "WTF_STORAGE_URL is not set" in result.stderr and "nothing to publish" in result.stderr
