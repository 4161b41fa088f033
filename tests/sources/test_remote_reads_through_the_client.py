"""A registry source reads through the v2 client, never through the push destination (issue 22)."""
from __future__ import annotations

import subprocess
import sys


def test_a_registry_source_loads_no_push_code() -> None:
    code = ("import sys, pypush.sources.remote as r\n"
            "print(r.RemoteReader.__init__.__annotations__['conn'])\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('pypush.transports'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    annotation, modules = proc.stdout.splitlines()
    assert annotation == "RegistryClient"
    loaded = set(modules.split())
    assert "pypush.transports.distribution.client" in loaded
    assert not loaded & {"pypush.transports.distribution.destination", "pypush.transports.distribution.upload",
                         "pypush.transports.resume_state"}, loaded
