"""The AWS CLI v1 (pip's ``awscli``) run against the local endpoint, on pypush's pinned API models
(``AWS_DATA_PATH``), so the CLI calls every operation pypush serve knows whatever botocore it bundles."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict, Optional

import pytest

from pypush import apimodels


def aws_cli_available() -> None:
    """Skip (Python 3.9: awscli needs 3.10+) when awscli is not installed; fail on 3.10+ where CI installs it."""
    try:
        import awscli  # noqa: F401
    except ImportError:
        if sys.version_info >= (3, 10):
            pytest.fail("awscli is not installed (pip install -c .ci/constraints.txt -e '.[test]')")
        pytest.skip("awscli needs Python 3.10+")


class AwsCli:
    """``aws ecr-public ...`` against one endpoint; ``call`` returns the parsed JSON output or, for a failing
    command, raises with its stderr; ``error`` returns the stderr of a command that must fail."""

    def __init__(self, endpoint: Any, tmp: Any):
        aws_cli_available()
        self.endpoint = endpoint
        config = tmp / "aws-config"
        config.write_text("[default]\nregion = us-east-1\n")
        self.env = {"AWS_DATA_PATH": str(apimodels.DATA_DIR), "AWS_ACCESS_KEY_ID": "x",
                    "AWS_SECRET_ACCESS_KEY": "y", "AWS_CONFIG_FILE": str(config),
                    "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-credentials"), "AWS_MAX_ATTEMPTS": "1",
                    "HOME": str(tmp), "PATH": "/usr/bin:/bin"}

    def run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "awscli", "ecr-public", *args, "--endpoint-url", self.endpoint.url,
               "--output", "json"]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=120)

    def call(self, *args: str) -> Dict[str, Any]:
        proc = self.run(*args)
        assert proc.returncode == 0, f"aws ecr-public {' '.join(args)}: {proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    def error(self, *args: str, code: Optional[str] = None) -> str:
        proc = self.run(*args)
        assert proc.returncode != 0, f"aws ecr-public {' '.join(args)} succeeded: {proc.stdout}"
        if code is not None:
            assert f"({code})" in proc.stderr, proc.stderr
        return proc.stderr
