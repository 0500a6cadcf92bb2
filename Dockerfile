# syntax=docker/dockerfile:1
# WatchTheFall Orchestrator: one image for the web process and the render workers.
#   docker build -t wtf-portal .
#   docker run -p 127.0.0.1:8000:8000 -e WTF_PORTAL_KEY=... -e WTF_SECRET_KEY=... -v wtf-data:/data wtf-portal
# (published on the host's loopback, for nginx on the host; with -e WTF_TRUSTED_PROXIES=1 behind it.
# `-p 8000:8000` would publish gunicorn itself on every interface of the host.)
# FFmpeg is the static build inside the imageio-ffmpeg wheel (pinned in requirements.txt): no apt ffmpeg,
# so the image, Render and a laptop all run the same FFmpeg.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY . ./
# Editable, so `wtf-portal` runs the same files gunicorn loads from /app; --no-deps: the lock is the truth.
RUN pip install --no-deps -e . \
    && python -c "from portal.media.binary import locate_ffmpeg; import subprocess; \
subprocess.run([str(locate_ffmpeg()), '-hide_banner', '-version'], check=True)"

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000 \
    WTF_DATA_DIR=/data \
    WTF_LOG_FORMAT=json \
    XDG_CACHE_HOME=/tmp/cache
RUN groupadd --system --gid 10001 wtf \
    && useradd --system --uid 10001 --gid wtf --home-dir /app --no-create-home --shell /usr/sbin/nologin wtf \
    && mkdir -p /data \
    && chown wtf:wtf /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# Numeric, so Kubernetes' runAsNonRoot can verify it. Only /data and /tmp (yt-dlp's cache) are written.
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# slim has no curl: Python asks /readyz (database, data folder, free disk); any non-200 fails the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)"
# The seed's start command, identical to the Procfile's web line and render.yaml's startCommand.
CMD ["gunicorn", "-c", "portal/gunicorn.conf.py", "portal.app:app"]
