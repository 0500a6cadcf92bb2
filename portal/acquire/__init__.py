"""Acquire: getting a source onto this machine. `downloader` is the one module that talks to yt-dlp;
`cookies` keeps the uploaded cookies file (shared through the bucket with object storage).

May import: storage, the engine's probe and errors (`media`), `config`, `errors`. Never jobs, web or
commands.
"""
