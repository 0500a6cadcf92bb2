"""Acquire: getting a source onto this machine. `downloader` is the one module that talks to yt-dlp;
`sites` decides which way a link goes (proxies, impersonation, YouTube arguments) and keeps each site's
health record; `cookies` keeps the uploaded cookies files (shared through the bucket with object storage).

May import: storage, the engine's probe and errors (`media`), `database`, `config`, `errors`. Never jobs,
web or commands.
"""
