"""The progress bar as a terminal shows it: a pseudo-terminal of 0 and 80 columns, layers compressed on the fly."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from imagegen import make_oci_layout, random_bytes, tar_layer

pty = pytest.importorskip("pty")  # POSIX only, in the test; the package itself uses no terminal tricks
fcntl = pytest.importorskip("fcntl")
termios = pytest.importorskip("termios")


def run_in_pty(argv, columns: int, cwd: Path, env: dict, lines: int = 24) -> "tuple[int, str]":
    """Run ``argv`` with stdin/stdout/stderr on a pseudo-terminal of ``columns`` columns and ``lines`` lines (0×0:
    what ``script`` makes); (exit code, output)."""
    import struct

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=str(cwd), env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=300)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


BAR = re.compile(r"(\d+)%(?:\|[^|]*\|)? ([\d.]+)([kMG]?)B/([\d.]+)([kMG]?)B")


@pytest.fixture(scope="module")
def plain_image(tmp_path_factory) -> Path:
    """One uncompressible-ish 3 MB plain-tar layer plus a compressible one: gzip on the fly shrinks the push."""
    layout = tmp_path_factory.mktemp("plain") / "image.oci"
    layers = [tar_layer([("random.bin", random_bytes(3_000_000, seed=12))]),
              tar_layer([("zeros.bin", b"\0" * 6_000_000)])]
    make_oci_layout(layout, layers, layer_media_type="application/vnd.oci.image.layer.v1.tar")
    return layout


@pytest.mark.parametrize("columns, lines", [(0, 24), (0, 0), (24, 24), (80, 24), (80, 0)])
def test_bar_reaches_its_total_in_megabytes_at_any_width(plain_image, endpoint, tmp_path, columns, lines) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYPUSH_CACHE_DIR=str(tmp_path / "cache"), TERM="xterm")
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    code, out = run_in_pty([sys.executable, "-m", "pypush", "push", f"oci:{plain_image}",
                            f"public.ecr.aws/local/bar{columns}x{lines}:1", "--endpoint-url", endpoint.url,
                            "--create-repository", "--compression", "gzip"], columns, tmp_path, env, lines)
    assert code == 0, out
    frames = [m for m in BAR.finditer(out)]
    assert frames, f"no progress bar on a {columns}-column terminal: {out!r}"
    last = frames[-1]
    percent, done, done_unit, total, total_unit = last.groups()
    assert percent == "100" and (done, done_unit) == (total, total_unit), last.group(0)
    assert total_unit in ("M", "k") and "MiB" not in out and "KiB" not in out
    pushed_mb = float(total) / (1 if total_unit == "M" else 1000)
    assert 3.0 <= pushed_mb < 4.0, last.group(0)  # the gzipped bytes (3 MB random + ~6 kB of zeros), not 9 MB
    assert "public.ecr.aws/local/bar" in out
