"""The file-system half of cleanup: ages, files in use, temp grace, links, and the low-disk check."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from portal.config import Settings, load_settings
from portal.jobs.maintenance import (
    CleanupReport,
    InUse,
    JobRecord,
    LowDiskError,
    disk_status,
    expire_jobs,
    require_free_disk,
    sweep_data_dir,
)
from portal.storage.objects import job_scratch

NOW = datetime(2030, 1, 10, 12, 0, tzinfo=timezone.utc)


def _file(path: Path, hours_old: float, size: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = (NOW - timedelta(hours=hours_old)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _age_dir(path: Path, hours_old: float) -> None:
    stamp = (NOW - timedelta(hours=hours_old)).timestamp()
    os.utime(path, (stamp, stamp))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(data_dir=tmp_path / "data", retention_hours=24)
    settings.ensure_dirs()
    return settings


def _sweep(settings: Settings, in_use: InUse | None = None) -> CleanupReport:
    in_use = in_use or InUse()
    report = CleanupReport(cutoff=NOW - timedelta(hours=settings.retention_hours))
    sweep_data_dir(settings, in_use, report, NOW)
    return report


def test_old_files_go_young_files_stay(settings: Settings) -> None:
    old_upload = _file(settings.uploads_dir / "up1.mp4", 30, size=1000)
    young_upload = _file(settings.uploads_dir / "up2.mp4", 2)
    old_output = _file(settings.outputs_dir / "clip_watchthefall.mp4", 25, size=2000)
    young_output = _file(settings.outputs_dir / "clip_fallclips.mp4", 23)
    old_log = _file(settings.logs_dir / "portal.log.1", 48, size=50)

    report = _sweep(settings)

    assert not old_upload.exists()
    assert not old_output.exists()
    assert not old_log.exists()
    assert young_upload.exists()
    assert young_output.exists()
    assert report.files_removed == 3
    assert report.bytes_freed == 3050
    assert report.errors == []


def test_a_folder_is_as_young_as_its_youngest_file(settings: Settings) -> None:
    job_dir = settings.outputs_dir / "batch"
    _file(job_dir / "a.mp4", 40)
    _file(job_dir / "b.mp4", 1)
    _age_dir(job_dir, 40)
    _sweep(settings)
    assert (job_dir / "a.mp4").exists()

    _file(job_dir / "b.mp4", 30)
    _age_dir(job_dir, 40)
    report = _sweep(settings)
    assert not job_dir.exists()
    assert report.files_removed == 2


def test_files_of_running_jobs_are_kept_whatever_their_age(settings: Settings) -> None:
    job = "0f3c9a7e5b2d4c1a8e6f7b9d0c2a4e6f"
    other = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"
    by_name = _file(settings.outputs_dir / f"{job}_watchthefall.mp4", 100)
    by_folder = _file(job_scratch(settings, job, "5e1f") / "source.part", 100)  # a run's scratch folder
    _age_dir(job_scratch(settings, job, "5e1f"), 100)
    by_path = _file(settings.uploads_dir / "holiday.mov", 100)
    hidden_temp = _file(settings.outputs_dir / f".{job}.tmp.mp4", 100)
    # Another job's files and a name that merely contains the id somewhere are not protected.
    not_ours = _file(settings.outputs_dir / f"{other}_watchthefall.mp4", 100)
    lookalike = _file(settings.outputs_dir / f"x{job}.mp4", 100)

    report = _sweep(settings, InUse.of([job], [by_path]))

    assert by_name.exists()
    assert by_folder.exists()
    assert by_path.exists()
    assert hidden_temp.exists()
    assert not not_ours.exists()
    assert not lookalike.exists()
    assert report.kept_in_use == 4


def test_a_folder_holding_a_file_in_use_is_kept(settings: Settings) -> None:
    inner = _file(settings.uploads_dir / "batch" / "in-use.mp4", 100)
    _file(settings.uploads_dir / "batch" / "other.mp4", 100)
    _age_dir(settings.uploads_dir / "batch", 100)
    _sweep(settings, InUse.of([], [inner]))
    assert inner.exists()


def test_temp_files_go_after_the_grace_not_the_retention(settings: Settings) -> None:
    stale = _file(settings.temp_dir / "upload-abc.part", 2)
    fresh = _file(settings.temp_dir / "upload-def.part", 0.25)
    _sweep(settings)
    assert not stale.exists()
    assert fresh.exists()


def test_links_are_removed_as_links_never_followed(settings: Settings, tmp_path: Path) -> None:
    precious = _file(tmp_path / "elsewhere" / "precious.mp4", 100)
    link = settings.outputs_dir / "link.mp4"
    link.symlink_to(precious)
    os.utime(link, (precious.stat().st_mtime,) * 2, follow_symlinks=False)
    folder_link = settings.outputs_dir / "folder-link"
    folder_link.symlink_to(precious.parent, target_is_directory=True)
    os.utime(folder_link, (precious.stat().st_mtime,) * 2, follow_symlinks=False)

    _sweep(settings)

    assert not link.is_symlink()
    assert not folder_link.is_symlink()
    assert precious.exists()


def test_missing_folders_are_not_an_error(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "never-made")
    report = _sweep(settings)
    assert report.files_removed == 0
    assert report.errors == []


def test_disk_status_and_refusal(tmp_path: Path) -> None:
    roomy = load_settings(data_dir=tmp_path / "not-yet-made", min_free_disk_mb=0)
    status = disk_status(roomy)
    assert status["ok"] is True
    assert status["free_mb"] > 0
    assert Path(status["path"]) == tmp_path.resolve()
    require_free_disk(roomy)

    # More than any disk here has: the real free space is under it.
    starved = load_settings(data_dir=tmp_path, min_free_disk_mb=1_000_000_000)
    assert disk_status(starved)["ok"] is False
    with pytest.raises(LowDiskError, match="WTF_MIN_FREE_DISK_MB=1000000000") as caught:
        require_free_disk(starved)
    assert caught.value.code == "low_disk"


def _job(job_id: str, status: str, hours_old: float, *paths: Path) -> JobRecord:
    return JobRecord(job_id, status, NOW - timedelta(hours=hours_old), tuple(paths))


def test_expired_jobs_lose_their_files_unless_another_job_needs_them(
    settings: Settings, tmp_path: Path
) -> None:
    shared_upload = _file(settings.uploads_dir / "shared.mp4", 50)
    old_output = _file(settings.outputs_dir / "old" / "clip_a.mp4", 49)
    young_output = _file(settings.outputs_dir / "young" / "clip_a.mp4", 49)  # rendered long, finished late
    running_source = _file(settings.uploads_dir / "running.mp4", 500)
    outside = _file(tmp_path / "not-ours.mp4", 500)
    jobs = [
        _job("old", "completed", 30, shared_upload, old_output.parent, outside),
        _job("failed-old", "failed", 40),
        _job("young", "completed", 2, shared_upload, young_output.parent),
        _job("running", "rendering", 900, running_source),
        _job("queued", "queued", 900),
    ]
    report = CleanupReport(cutoff=NOW - timedelta(hours=24))

    expired, in_use = expire_jobs(settings, jobs, report)

    assert expired == ["old", "failed-old"]
    assert not old_output.exists()
    assert shared_upload.exists(), "the young job still uses it"
    assert young_output.exists()
    assert running_source.exists()
    assert outside.exists(), "never outside the data folder"
    assert report.files_removed == 1
    # The sweep that follows keeps what the remaining jobs own, whatever its age.
    sweep_data_dir(settings, in_use, report, NOW)
    assert shared_upload.exists() and young_output.exists() and running_source.exists()
