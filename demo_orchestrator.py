"""The seed's demo entry point: make a sample clip and brand it with the demo brands (`make demo`)."""

import sys

from portal.commands.cli import main

if __name__ == "__main__":
    main(["demo", *sys.argv[1:]])
