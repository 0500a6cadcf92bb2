"""Where a clip's transcript is kept (DESIGN 4.13, 4.14): on its library item (`Source.transcript`), once,
read by every render of it: every brand and format of a job, "Brand again", and one output rendered again.

Every write goes through `save_transcript`, which checks the cues against the clip's length, so a
transcript in the database is always one the renderer can burn in. What a job's submission asked for
(`Job.captions`) is resolved by `transcript_for_render` in the worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from portal.brand_loader import Brand
from portal.database import Database, Job, Source, Upload, utc_now
from portal.errors import PortalError
from portal.library.sources import get_source
from portal.media.binary import locate_ffmpeg
from portal.media.probe import probe_media
from portal.media.recognize import recognize
from portal.media.transcript import (
    Cue,
    NoPlatformSubtitlesError,
    checked_cues,
    cues_from_json,
    fitted_cues,
    parse_subtitles,
)
from portal.runtime import Runtime
from portal.storage.objects import StoredFileMissingError

AUTO = "auto"  # a job's `captions`: recognize the clip's speech
PLATFORM = "platform"  # a job's `captions`: the subtitles (or automatic captions) of the link's site
ORIGINS = ("file", "edit", "recognition", "platform")  # where a stored transcript came from


class ClipLengthUnknownError(PortalError):
    """A link not yet downloaded: its length, which cues are checked against, is not known yet."""

    code = "clip_length_unknown"
    status = 409


class CaptionsFileMissingError(PortalError):
    code = "captions_missing"
    status = 409


@dataclass(frozen=True)
class StoredTranscript:
    cues: list[Cue]
    origin: str  # one of ORIGINS
    updated_at: str | None


def stored_transcript(source: Source) -> StoredTranscript | None:
    found = source.transcript
    if not found:
        return None
    return StoredTranscript(cues_from_json(found["cues"]), found["origin"], found.get("updated_at"))


def load_transcript(db: Database, source_id: str) -> StoredTranscript | None:
    """The library item's transcript, or None without one (SourceNotFoundError for an unknown item)."""
    with db.session() as session:
        return stored_transcript(get_source(session, source_id))


def save_transcript(
    db: Database, source_id: str, cues: Sequence[Cue], origin: str, duration: float | None = None
) -> StoredTranscript:
    """Check the cues against the clip (`duration`, else the item's known length) and store them as the
    item's one transcript, replacing any."""
    with db.session() as session:
        source = get_source(session, source_id)
        duration = duration or source.duration
        if duration is None:
            raise ClipLengthUnknownError(
                f"library item {source_id}: its link is not downloaded yet, so its length is unknown; "
                "try again once a job of it has downloaded it"
            )
        checked = checked_cues(cues, duration)
        now = utc_now().isoformat()
        source.transcript = {"cues": [cue.as_dict() for cue in checked], "origin": origin, "updated_at": now}
        return StoredTranscript(checked, origin, now)


def draws_captions(brands: Sequence[Brand]) -> bool:
    return any(brand.captions is not None for brand in brands)


def transcript_for_render(
    runtime: Runtime,
    job_id: str,
    scratch: Path,
    source: Path,
    brands: Sequence[Brand],
    platform_subtitles: str | None,
    on_progress: Callable[[str, float], None],
    cancel: threading.Event,
) -> list[Cue]:
    """The cues a render of the job burns in, made now when needed and stored on its library item so that
    one edit serves every later render.

    An explicit `captions` picks the origin: an uploaded SRT/WebVTT file, "platform" (the link's
    subtitles, `platform_subtitles`, fetched with the download) or "auto" (speech recognition, spelled as
    the brands' glossaries say). Without one: the item's stored transcript if it has one; else, when a
    brand draws captions, the platform's subtitles if the link had them, else recognition; else none.
    """
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        wanted, source_id, name = job.captions, job.source_id, job.source_name
        item = session.get(Source, source_id) if source_id else None
        stored = stored_transcript(item) if item is not None else None
        upload = session.get(Upload, wanted) if wanted not in (None, AUTO, PLATFORM) else None
        ref = upload.path if upload is not None else None
    if wanted is None:
        if stored is not None:
            return stored.cues
        if not draws_captions(brands):
            return []
        wanted = PLATFORM if platform_subtitles else AUTO
    duration = probe_media(source, runtime.settings.source_limits).duration
    if wanted == PLATFORM and not platform_subtitles:
        if stored is not None and stored.origin == "platform":  # branded again: no download, none fetched
            return stored.cues
        raise NoPlatformSubtitlesError(name)
    if wanted == PLATFORM:
        cues, origin = fitted_cues(parse_subtitles(platform_subtitles), duration), "platform"
    elif wanted == AUTO:
        options = runtime.settings.engine_options()
        cues = recognize(
            locate_ffmpeg(options.ffmpeg_path), source, engine=runtime.settings.captions_engine,
            model=runtime.settings.captions_model,
            glossary=[word for brand in brands for word in brand.glossary],
            on_fraction=lambda fraction: on_progress("recognizing", fraction * 100), cancel=cancel,
            timeout=options.timeout_s,
        )  # fmt: skip
        origin = "recognition"
    elif ref is None:
        raise CaptionsFileMissingError(f"job {job_id}: its captions file {wanted!r} is gone; upload it again")
    else:
        try:
            text = runtime.storage.local_copy(ref, scratch).read_text(encoding="utf-8-sig")
        except StoredFileMissingError:
            message = f"job {job_id}: its captions file is gone; upload it again"
            raise CaptionsFileMissingError(message) from None
        cues, origin = parse_subtitles(text), "file"
    if not cues:
        return []
    if source_id is None:  # no library item to keep it on (cannot happen for jobs made since issue 27)
        return checked_cues(cues, duration)
    return save_transcript(runtime.db, source_id, cues, origin, duration).cues
