"""Storage: where media lives (`objects`: the data dir or an S3-compatible bucket) and signed links to it
(`links`).

May import: `config`, `errors`. Nothing else of the portal: every other area stands on it.
"""
