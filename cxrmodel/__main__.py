"""`python -m cxrmodel <command>`: see cxrmodel.cli."""

from cxrmodel.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
