"""gunicorn reads ./gunicorn.conf.py when it is given no -c, so the start commands of the seed's and v3's
guides run from the project folder (`gunicorn portal.app:app`, `gunicorn -w 4 -b 0.0.0.0:5000 portal.app:app`,
`gunicorn run_portal:app --bind 0.0.0.0:10000`) get the same settings as `-c portal/gunicorn.conf.py`:
its worker class, timeouts, logging and the embedded queue consumer. Options on the command line still win.
"""

import runpy
from pathlib import Path

globals().update(runpy.run_path(str(Path(__file__).resolve().parent / "portal" / "gunicorn.conf.py")))
