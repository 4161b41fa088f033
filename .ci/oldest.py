"""Print the oldest versions pyproject.toml declares as pip constraints (``name==min; marker``), for CI's
oldest-dependencies run. boto3 (a test dependency) is pinned to the release paired with the oldest botocore:
boto3 1.N.x needs botocore 1.(N+3).x, and pip would otherwise walk back through hundreds of boto3 releases."""
import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

project = tomllib.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml").read_text())["project"]
for requirement in project["dependencies"]:
    spec, _, marker = requirement.partition(";")
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", spec)
    if not match:
        sys.exit(f"oldest.py: {requirement!r} declares no '>=' lower bound")
    name, version = match.groups()
    print(f"{name}=={version}" + (f"; {marker.strip()}" if marker else ""))
    if name == "botocore":
        major, minor, patch = [int(x) for x in version.split(".")] + [0] * (3 - version.count(".") - 1)
        print(f"boto3=={major}.{minor - 3}.{patch}")
