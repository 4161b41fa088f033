"""Table rendering and reference parsing of the management commands (no server needed)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pypush.errors import UsageError
from pypush.cli.manage import render_table
from pypush.ecrpublic.client import parse_alias, parse_ref

DIGEST = "sha256:" + "ab" * 32


def test_table_fits_the_width_and_marks_truncation():
    rows = [(DIGEST, ("v1", "latest"), "1.2 MB", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
            ("sha256:short", (), "0 B", None)]
    full = render_table(("DIGEST", "TAGS", "SIZE", "PUSHED"), rows)
    assert full.splitlines()[1].split("  ")[0] == DIGEST
    assert "v1,latest" in full and "2026-01-02 03:04:05" in full
    for width in (100, 60, 40):
        lines = render_table(("DIGEST", "TAGS", "SIZE", "PUSHED"), rows, width).splitlines()
        assert all(len(line) <= width for line in lines), (width, lines)
        assert lines[1].startswith("sha256:") and "…" in lines[1]
    # Never narrower than the headers (or 8 columns): a tiny terminal overflows instead of mangling.
    tiny = render_table(("DIGEST", "TAGS"), rows, 5).splitlines()
    assert tiny[0].split() == ["DIGEST", "TAGS"]


def test_cells_are_one_line():
    out = render_table(("FIELD", "VALUE"), [("about", "# Title\n\nline two\ttabbed")])
    assert out.splitlines()[1] == "about  # Title line two tabbed"


@pytest.mark.parametrize("ref, repo, alias, tag, digest", [
    ("app", "app", None, None, None),
    ("team/app:v1", "team/app", None, "v1", None),
    (f"app@{DIGEST}", "app", None, None, DIGEST),
    ("public.ecr.aws/local/team/app:v1", "team/app", "local", "v1", None),
    (f"public.ecr.aws/local/app:v1@{DIGEST}", "app", "local", "v1", DIGEST),
])
def test_references(ref, repo, alias, tag, digest):
    d = parse_ref(ref)
    assert (d.repository, d.alias, d.tag, d.digest) == (repo, alias, tag, digest)


@pytest.mark.parametrize("bad", ["App", "docker.io/library/app", "localhost:5000/app", "app:bad tag", "public.ecr.aws/app"])
def test_bad_references(bad):
    with pytest.raises(UsageError):
        parse_ref(bad)


def test_aliases():
    assert parse_alias(None) is None
    assert parse_alias("local") == "local"
    assert parse_alias("public.ecr.aws/local") == "local"
    assert parse_alias("public.ecr.aws/local/") == "local"
    assert parse_alias("public.ecr.aws/local/app") == "local"
    assert parse_alias("123456789012") == "123456789012"
    with pytest.raises(UsageError):
        parse_alias("Bad Alias")


@pytest.mark.servers
def test_logo_urls_data_and_http():
    import base64
    import http.server
    import threading

    from pypush.errors import RegistryError
    from pypush.ecrpublic.client import read_logo_url

    logo = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    assert read_logo_url("data:image/png;base64," + base64.b64encode(logo).decode()) == logo

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status, body = (200, logo) if self.path == "/logo.png" else (404, b"")
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert read_logo_url(f"{base}/logo.png") == logo
        with pytest.raises(RegistryError, match="HTTP 404"):
            read_logo_url(f"{base}/missing.png")
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(RegistryError):
        read_logo_url("data:image/png;base64,***")
