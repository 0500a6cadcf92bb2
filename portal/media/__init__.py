"""The render engine's parts: probe (PyAV), plan (pure), ffmpeg (the one place that spawns FFmpeg)."""
