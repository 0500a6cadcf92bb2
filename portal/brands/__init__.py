"""Brands: where the brand config lives (`store`: a file, or the bucket so every machine sees an edit) and
the import of a v3 checkout (`v3_import`). The model itself is `portal.brand_loader`.

May import: storage, `brand_loader`, the engine's options (`media`), `config`, `errors`. Never jobs, web or
commands.
"""
