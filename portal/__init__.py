"""WatchTheFall Orchestrator: brand one clip for many accounts in one FFmpeg pass."""

__version__ = "4.0.0"
