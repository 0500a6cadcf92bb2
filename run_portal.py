"""Local development run (`make run`): web + embedded worker on 127.0.0.1:${PORT:-8000}.

With no WTF_PORTAL_KEY it makes one up and prints it; this is the only way the server starts without one.
`run_portal:app` is also a WSGI target, as in v3's guide (`gunicorn run_portal:app --bind 0.0.0.0:10000`).
"""

import os
import secrets
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
    if not os.environ.get("WTF_PORTAL_KEY"):
        os.environ["WTF_PORTAL_KEY"] = secrets.token_urlsafe(18)
        print(f"Portal key for this run: {os.environ['WTF_PORTAL_KEY']}", flush=True)
    port = os.environ.get("PORT", "8000")
    print(f"Open http://127.0.0.1:{port}/portal/  (scripts: the key in X-Portal-Key)", flush=True)
    main(["serve", "--host", "127.0.0.1", "--port", port, *sys.argv[1:]])
