"""``python -m circuitlearn``: the same command line as the ``circuitlearn`` script."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the package is still importing: no traceback
    sys.exit(130)

if __name__ == "__main__":
    main()
