"""The library (DESIGN 4.14): sources kept by the team (every link or upload, what is known of it, its
stored file and cover), their picture fingerprints and the index that finds a repost, the warnings a
submission gets, and each brand's post text filled per output.

May import: `storage` (the file and cover of a source), the engine (`media`: fingerprint, cover, probe),
`brand_loader`, `database`, `config`, `errors`. Never `jobs`, `runtime` or `web`: they call the library.
Deleting a source's files is retention's (`portal.jobs.maintenance`), as every deletion is.
"""
