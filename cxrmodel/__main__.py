"""`python -m cxrmodel <command>`: see cxrmodel.cli.main."""

from cxrmodel.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
