"""The render engine's parts: probe (PyAV), plan (pure), ffmpeg (the one place that spawns FFmpeg),
overlays, layers, loudness, placement, safe zones, frames (small grey frames decoded once for every
analysis) and reframe (trim's end card, and the crop window that follows the subject).

May import: `brand_loader` (the brand model it draws), `errors`. Never the database, the queue, the
settings object, HTTP or any other area: paths and options in, typed errors and progress out. `options`
and `safezone` are plain values that the brand model and the settings share with the engine.
"""
