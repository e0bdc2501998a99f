"""Allow ``python -m wattcut``."""

from wattcut.cli import main

raise SystemExit(main())
