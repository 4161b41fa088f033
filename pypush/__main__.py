"""``python -m pypush``."""
from .cli import main

raise SystemExit(main())
