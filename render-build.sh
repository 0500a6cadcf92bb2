#!/usr/bin/env bash
# Render build step: Python dependencies from the pinned lock; FFmpeg comes from the imageio-ffmpeg wheel.
set -euo pipefail
pip install --upgrade pip
pip install -r requirements.txt
pip install --no-deps .
python - <<'PY'
from portal.video_processor import ffmpeg_report
report = ffmpeg_report()
print(f"FFmpeg: {report['path']} ({report['version']})")
if not report["ok"]:
    raise SystemExit(f"FFmpeg lacks: {', '.join(report['missing'])}")
PY
