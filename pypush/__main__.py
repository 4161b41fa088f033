"""``python -m pypush``."""
from .cli import run

run()
