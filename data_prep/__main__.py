"""``python -m data_prep <command> ...``: see ``data_prep.cli``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
