"""``python -m circuitlearn``: the same command line as the ``circuitlearn`` script."""

from .cli import main

if __name__ == "__main__":
    main()
