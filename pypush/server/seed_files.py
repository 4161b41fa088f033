"""The JSON files that seed the endpoint's stubs (serve --entitlements, --scan-findings)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: str) -> Any:
    """The parsed JSON of ``path``; ValueError naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"{path}: cannot read it: {e.strerror or e}") from None
    except ValueError as e:
        raise ValueError(f"{path}: not JSON: {e}") from None
