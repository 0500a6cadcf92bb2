"""Commands: the `wtf-portal` CLI (`cli`), what a command shares (`base`), the service commands
(`service`: serve, worker, cleanup) and the demo (`demo`).

The top of the house: may import any area. Nothing imports it but `portal.__main__` and the root scripts.
"""
