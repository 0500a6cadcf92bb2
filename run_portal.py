"""Local development run (`make run`): web + embedded worker on 127.0.0.1:${PORT:-8000}.

With no WTF_PORTAL_KEY it draws a key on the first start, keeps it in the data dir (portal-key, mode 0600)
and prints it on every start; this is the only way the server starts without WTF_PORTAL_KEY.
`run_portal:app` is also a WSGI target, as in v3's guide (`gunicorn run_portal:app --bind 0.0.0.0:10000`).
"""

import os
import sys

from portal.commands.cli import main


def __getattr__(name: str):
    """`run_portal:app` is `portal.app:app` (built on first access, like it)."""
    if name != "app":
        raise AttributeError(name)
    from portal import app as portal_app

    return portal_app.app


if __name__ == "__main__":
    os.environ.setdefault("WTF_DEV_MODE", "1")
    main(["serve", "--host", "127.0.0.1", *sys.argv[1:]])
