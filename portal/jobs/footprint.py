"""The service's own memory: the PSS of its Python processes, so a render's budget can count it.

On Render's free plan everything shares 512 MB: the gunicorn master, its worker and the queue consumer
(issue 13 measured 66 + 75 + 108 MiB before FFmpeg started). PSS (proportional set size) charges each
shared page to the processes sharing it in equal parts, so the figures of a process tree add up to what
the tree really holds, unlike RSS.
"""

from __future__ import annotations

import contextlib
import os

import psutil

MIB = 1_048_576


def pss_mib(process: psutil.Process) -> float:
    """One process's PSS in MiB (0 if it is gone or not ours to read)."""
    with contextlib.suppress(psutil.Error):
        return process.memory_full_info().pss / MIB
    return 0.0


def tree(root: psutil.Process) -> list[psutil.Process]:
    """The process and all its descendants (still running)."""
    with contextlib.suppress(psutil.Error):
        return [root, *root.children(recursive=True)]
    return []


def service_root() -> psutil.Process:
    """The top of this service's process tree: gunicorn's master when this process is its embedded
    consumer or one of its workers, else this process (a separate `wtf-portal worker`)."""
    me = psutil.Process(os.getpid())
    with contextlib.suppress(psutil.Error):
        parent = me.parent()
        if parent is not None and any("gunicorn" in part for part in parent.cmdline()[:2]):
            return parent
    return me


def python_footprint_mib() -> int:
    """PSS of the service's processes now, rounded up: measured when the consumer starts, before any
    FFmpeg runs, and handed to the engine as the memory the render budget must leave to Python."""
    return int(sum(pss_mib(process) for process in tree(service_root())) + 0.999)
