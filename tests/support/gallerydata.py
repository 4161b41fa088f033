"""Data for the gallery tests and its README screenshot: PNG logos drawn in pure Python, images and
indexes pushed through the ECR API of a LocalEndpoint, and a demo registry."""
from __future__ import annotations

import gzip
import json
import math
import struct
import zlib
from typing import Callable, List, Optional, Sequence, Tuple

from endpoint_client import OCI_INDEX, OCI_MANIFEST, client, push_blob, sha, gzip_tar_layer

RGBA = Tuple[int, int, int, int]


def png(width: int, height: int, pixel: Callable[[int, int], RGBA]) -> bytes:
    """An 8-bit RGBA PNG whose pixel (x, y) is ``pixel(x, y)``."""
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            raw.extend(pixel(x, y))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")


def solid_png(width: int, height: int, rgb: Tuple[int, int, int]) -> bytes:
    return png(width, height, lambda x, y: (*rgb, 255))


def read_png(data: bytes) -> Tuple[int, int, List[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG (what Chromium screenshots are)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), f"unsupported PNG (depth {depth}, colour type {colour})"
            bpp = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: List[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


def count_colour(rows: List[bytes], rgb: Tuple[int, int, int], tolerance: int = 6) -> int:
    """How many pixels of RGB rows are within ``tolerance`` of ``rgb``."""
    n = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if all(abs(row[i + k] - rgb[k]) <= tolerance for k in range(3)):
                n += 1
    return n


# -- logos for the demo ----------------------------------------------------------------------------
def _logo(size: int, bg: Tuple[int, int, int], shape: Callable[[float, float], bool]) -> bytes:
    """A rounded square of colour ``bg`` with a white ``shape`` (u, v in [-1, 1]), 3x3 supersampled."""
    def inside_square(u: float, v: float) -> bool:
        r, k = 0.34, 0.92
        dx, dy = max(abs(u) - (k - r), 0.0), max(abs(v) - (k - r), 0.0)
        return abs(u) <= k and abs(v) <= k and dx * dx + dy * dy <= r * r

    def pixel(x: int, y: int) -> RGBA:
        cover = white = 0
        for sx in range(3):
            for sy in range(3):
                u = (x + (sx + 0.5) / 3) / size * 2 - 1
                v = (y + (sy + 0.5) / 3) / size * 2 - 1
                if inside_square(u, v):
                    cover += 1
                    white += shape(u, v)
        if not cover:
            return (0, 0, 0, 0)
        t = white / cover
        colour = tuple(int(c + (255 - c) * t) for c in bg)
        return (colour[0], colour[1], colour[2], cover * 255 // 9)

    return png(size, size, pixel)


SHAPES = {
    "ring": lambda u, v: 0.28 <= math.hypot(u, v) <= 0.52,
    "diamond": lambda u, v: abs(u) + abs(v) <= 0.55,
    "bars": lambda u, v: abs(u) <= 0.5 and any(abs(v - c) <= 0.09 for c in (-0.3, 0.0, 0.3)),
    "play": lambda u, v: u >= -0.3 and abs(v) <= (0.45 - u) * 0.62 and u <= 0.45,
    "hexagon": lambda u, v: abs(v) <= 0.5 and abs(u) * 0.866 + abs(v) * 0.5 <= 0.5 and math.hypot(u, v) >= 0.22,
    "dots": lambda u, v: any(math.hypot(u - a, v - b) <= 0.17 for a in (-0.3, 0.3) for b in (-0.3, 0.3)),
}


def logo_png(shape: str, bg: Tuple[int, int, int], size: int = 96) -> bytes:
    return _logo(size, bg, SHAPES[shape])


# -- pushing through the ECR API -----------------------------------------------------------------
def push_image(c, repo: str, tag: Optional[str], os_: str = "linux", arch: str = "amd64",
               variant: Optional[str] = None, payload: bytes = b"hello\n") -> str:
    """An OCI image of one layer for ``os_/arch[/variant]``; returns the manifest text."""
    layer = gzip_tar_layer("hello.txt", payload)
    platform = {"architecture": arch, "os": os_, **({"variant": variant} if variant else {})}
    config = json.dumps({**platform, "config": {}, "rootfs": {"type": "layers",
                                                              "diff_ids": [sha(gzip.decompress(layer))]}}).encode()
    for blob in (config, layer):
        push_blob(c, repo, blob)
    text = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                                  "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer),
                                   "size": len(layer)}]})
    c.put_image(repositoryName=repo, imageManifest=text, **({"imageTag": tag} if tag else {}))
    return text


def push_index(c, repo: str, tag: str, platforms: Sequence[str], payload: bytes = b"hello\n",
               with_platform: bool = True) -> str:
    """An OCI index over one image per ``os/arch[/variant]``; children carry their platform unless told not to."""
    children = []
    for spec in platforms:
        os_, arch, *variant = spec.split("/")
        text = push_image(c, repo, None, os_, arch, variant[0] if variant else None, payload + spec.encode())
        desc = {"mediaType": OCI_MANIFEST, "digest": sha(text.encode()), "size": len(text.encode())}
        if with_platform:
            desc["platform"] = {"os": os_, "architecture": arch, **({"variant": variant[0]} if variant else {})}
        children.append(desc)
    text = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    c.put_image(repositoryName=repo, imageManifest=text, imageTag=tag)
    return text


def catalog(description: str = "", about: str = "", usage: str = "", architectures: Sequence[str] = (),
            operating_systems: Sequence[str] = (), logo: Optional[bytes] = None) -> dict:
    """RepositoryCatalogDataInput (only the given members)."""
    out = {"description": description, "aboutText": about, "usageText": usage,
           "architectures": list(architectures), "operatingSystems": list(operating_systems)}
    out = {k: v for k, v in out.items() if v}
    if logo is not None:
        out["logoImageBlob"] = logo
    return out


# -- the demo registry of the README screenshot ----------------------------------------------------
WEBSERVER_ABOUT = """# webserver

A small, fast **HTTP server** for static sites and reverse proxying, built for containers:
one static binary, no shell, runs as an unprivileged user.

## Features

- HTTP/1.1 and HTTP/2, TLS 1.3 with automatic certificate reload
- Brotli and gzip compression negotiated per request
- Structured JSON access logs on stdout

| Tag | Base | Notes |
|-----|------|-------|
| `1.27` | distroless | multi-platform |
| `1.27-debug` | debian | with a shell |
"""

WEBSERVER_USAGE = """Serve the current directory on port 8080:

```sh
docker run --rm -p 8080:8080 -v "$PWD:/srv:ro" public.ecr.aws/acme/webserver:1.27
```

Configuration is read from `/etc/webserver/config.toml`; see the [documentation](https://example.com/docs).
"""


def populate_demo(c) -> None:
    """The registry the README screenshot shows (alias of the endpoint, display name 'Acme Corp')."""
    c.put_registry_catalog_data(displayName="Acme Corp")
    demos = [
        ("webserver", "A small, fast HTTP server for static sites and reverse proxying.", ["x86-64", "ARM 64"],
         ["Linux"], ("ring", (3, 129, 96)), WEBSERVER_ABOUT, WEBSERVER_USAGE),
        ("python-runtime", "Python 3.13 on a slim Debian base, with pip and venv ready to use.",
         ["x86-64", "ARM 64"], ["Linux"], ("hexagon", (9, 114, 211)), "Python for production images.", ""),
        ("tools/registry-cli", "Command line tools for copying, inspecting and signing container images.",
         ["x86-64", "ARM 64", "ARM"], ["Linux"], ("play", (236, 114, 17)), "", ""),
        ("datastore", "An embeddable key-value store with snapshots, replication and a tiny footprint.",
         ["x86-64"], ["Linux"], ("bars", (143, 63, 255)), "", ""),
        ("windows/agent", "The monitoring agent for Windows Server 2022 hosts and containers.", ["x86-64"],
         ["Windows"], ("diamond", (6, 127, 148)), "", ""),
        ("ml/inference", "GPU-ready model server with an HTTP and gRPC API for ONNX and TorchScript models.",
         ["x86-64", "ARM 64"], ["Linux"], ("dots", (195, 61, 105)), "", ""),
    ]
    for name, description, archs, oses, (shape, colour), about, usage in demos:
        c.create_repository(repositoryName=name, catalogData=catalog(
            description, about, usage, archs, oses, logo_png(shape, colour)))
    push_index(c, "webserver", "1.27", ["linux/amd64", "linux/arm64/v8"], payload=b"web" * 40000)
    push_image(c, "webserver", "1.27-debug", payload=b"debug" * 90000)
    push_index(c, "python-runtime", "3.13", ["linux/amd64", "linux/arm64/v8"], payload=b"py" * 70000)
    push_image(c, "tools/registry-cli", "v2.4.1", arch="arm64", variant="v8", payload=b"cli" * 30000)
    push_image(c, "datastore", "8.1")
    push_image(c, "windows/agent", "2022", os_="windows")
    push_image(c, "ml/inference", "0.9", payload=b"ml" * 200000)
    c.create_repository(repositoryName="scratch")


def populate_demo_on(endpoint) -> None:
    populate_demo(client(endpoint))
