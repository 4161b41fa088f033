"""The streaming compressors: valid streams, identical bytes for any thread count or read pattern,
bounded read-ahead, errors surfacing before the end."""
from __future__ import annotations

import gzip
import hashlib
import io
import random
import shutil
import subprocess
import sys
import zlib

import pytest

from conftest import REPO_ROOT
from pypush.transform import compress
from pypush.transform.compress import GZIP_BLOCK_SIZE, ParallelGzipReader, ZstdReader, compressing_reader, compressor_id, decompressing_reader, deflate_block
from pypush.image.digest import VerifyingReader
from pypush.errors import DigestMismatchError, UsageError


def text_bytes(n: int, seed: int = 1) -> bytes:
    r = random.Random(seed)
    words = [bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 9))) for _ in range(500)]
    return b" ".join(r.choices(words, k=n // 5 + 1))[:n]


def mixed_bytes(n: int, seed: int = 1) -> bytes:
    """Alternating compressible text and random runs of uneven sizes (exercises stored chunks)."""
    r = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        k = r.randint(1000, 300_000)
        out += r.randbytes(k) if r.random() < 0.4 else text_bytes(k, r.randint(0, 99))
    return bytes(out[:n])


MIXED = mixed_bytes(3 * GZIP_BLOCK_SIZE + 12345)


class Dribble(io.RawIOBase):
    """A source that returns at most ``step`` bytes a read and records how far it was read."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step, self.pos, self.closed_ = data, step, 0, False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = len(self.data) if n is None or n < 0 else n
        chunk = self.data[self.pos:self.pos + min(n, self.step)]
        self.pos += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed_ = True
        super().close()


def drain(reader, size: int = 65536) -> bytes:
    out = []
    while True:
        chunk = reader.read(size)
        if not chunk:
            return b"".join(out)
        assert len(chunk) <= size
        out.append(chunk)


def gz(data: bytes, **kw) -> bytes:
    with ParallelGzipReader(io.BytesIO(data), **kw) as r:
        return drain(r)


@pytest.mark.parametrize("size", [0, 1, 4095, 65536, GZIP_BLOCK_SIZE, GZIP_BLOCK_SIZE + 1])
def test_gzip_round_trips_at_block_edges(size):
    data = mixed_bytes(size, seed=size)
    out = gz(data, threads=2)
    assert gzip.decompress(out) == data
    assert zlib.decompress(out, 31) == data
    assert out[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"  # no name, mtime 0, fastest, OS unknown


def test_gzip_is_one_valid_member_for_gzip_tool(tmp_path):
    out = gz(MIXED, level=6)
    path = tmp_path / "x.gz"
    path.write_bytes(out)
    if not shutil.which("gzip"):
        pytest.fail("gzip(1) is not installed")
    subprocess.run(["gzip", "-t", str(path)], check=True, capture_output=True)
    assert subprocess.run(["gzip", "-dc", str(path)], check=True, capture_output=True).stdout == MIXED
    d = zlib.decompressobj(31)
    assert d.decompress(out) == MIXED and d.eof and d.unused_data == b""


def test_gzip_same_bytes_for_any_threads_read_size_or_source_split():
    want = gz(MIXED, threads=1)
    assert gz(MIXED, threads=2) == want
    assert gz(MIXED, threads=5) == want
    with ParallelGzipReader(Dribble(MIXED, 7777), threads=3) as r:
        assert drain(r, 1000) == want
    with ParallelGzipReader(io.BytesIO(MIXED)) as r:
        assert r.read(-1) == want


def test_gzip_level_changes_bytes_and_ratio():
    data = text_bytes(2 * GZIP_BLOCK_SIZE)
    fast, small = gz(data, level=1), gz(data, level=9)
    assert fast != small and len(small) < len(fast) < len(data) // 2
    assert gzip.decompress(small) == data


def test_incompressible_chunks_are_stored_not_deflated():
    noise = random.Random(5).randbytes(GZIP_BLOCK_SIZE)
    block = deflate_block(noise, b"", 1)
    assert len(noise) < len(block) < len(noise) * 1.001  # stored blocks: 5 bytes per 64 KiB
    assert zlib.decompressobj(-15).decompress(block) == noise
    text = text_bytes(GZIP_BLOCK_SIZE)
    assert len(deflate_block(text, b"", 1)) < len(text) // 2


def test_blocks_use_the_previous_input_as_dictionary():
    # The second block repeats the end of the first: with the dictionary it costs almost nothing.
    first = random.Random(9).randbytes(GZIP_BLOCK_SIZE - 20000) + text_bytes(20000, 3)
    second = first[-20000:] * 3
    primed = deflate_block(second, first, 1)
    cold = deflate_block(second, b"", 1)
    assert len(primed) < len(cold)
    assert zlib.decompressobj(-15, zdict=first[-32768:]).decompress(primed) == second


def test_gzip_reads_the_source_only_a_bounded_distance_ahead():
    src = Dribble(text_bytes(GZIP_BLOCK_SIZE) * 40, 1 << 20)
    with ParallelGzipReader(src, threads=2) as r:
        assert r.read(10)
        assert src.pos <= (2 * 2 + 2) * GZIP_BLOCK_SIZE
    assert src.closed_


@pytest.mark.zstd
def test_source_errors_surface_before_the_end_of_the_stream():
    data = text_bytes(GZIP_BLOCK_SIZE * 2 + 5)
    wrong = "sha256:" + "0" * 64
    for make in (lambda s: ParallelGzipReader(s, threads=2), lambda s: ZstdReader(s, threads=2)):
        r = make(VerifyingReader(io.BytesIO(data), wrong, len(data), name="layer.tar"))
        with pytest.raises(DigestMismatchError, match="layer.tar"):
            drain(r)
        r.close()


def test_zstd_same_bytes_for_any_thread_count_and_read_pattern():
    want = drain(ZstdReader(io.BytesIO(MIXED), threads=1))
    assert drain(ZstdReader(io.BytesIO(MIXED), threads=2)) == want
    assert drain(ZstdReader(io.BytesIO(MIXED), threads=4, read_size=12345), 999) == want
    assert drain(ZstdReader(Dribble(MIXED, 5000), threads=2)) == want
    import zstandard

    assert zstandard.ZstdDecompressor().decompressobj().decompress(want) == MIXED
    params = zstandard.get_frame_parameters(want)
    assert params.has_checksum and params.content_size == zstandard.CONTENTSIZE_UNKNOWN


def test_zstd_streams_share_the_cores_and_give_the_same_bytes():
    want = drain(ZstdReader(io.BytesIO(MIXED), threads=1))
    before = ZstdReader._running
    first, second = ZstdReader(io.BytesIO(MIXED)), ZstdReader(io.BytesIO(MIXED))  # default: cores left over
    assert ZstdReader._running == before + 2
    assert drain(second) == drain(first) == want
    first.close()
    second.close()
    second.close()  # closing twice counts once
    assert ZstdReader._running == before


def test_zstd_empty_and_levels():
    empty = drain(ZstdReader(io.BytesIO(b"")))
    assert decompressing_reader(io.BytesIO(empty), "zstd").read() == b""
    data = text_bytes(500_000)
    l1, l19 = drain(ZstdReader(io.BytesIO(data), level=1)), drain(ZstdReader(io.BytesIO(data), level=19))
    assert len(l19) < len(l1)


@pytest.mark.parametrize("algorithm", ["gzip", "zstd"])
def test_decompressing_reader_streams_back_the_input(algorithm):
    packed = drain(compressing_reader(io.BytesIO(MIXED), algorithm))
    with decompressing_reader(io.BytesIO(packed), algorithm) as r:
        assert drain(r, 100_000) == MIXED


@pytest.mark.parametrize("algorithm,level", [("gzip", 10), ("gzip", -1), ("zstd", 0), ("zstd", 20), ("lz4", None),
                                             ("gzip", "1")])
def test_bad_algorithm_or_level_is_a_usage_error(algorithm, level):
    with pytest.raises(UsageError):
        compressing_reader(io.BytesIO(b""), algorithm, level)


def test_compressor_id_names_the_libraries_zstd_included():
    import zstandard

    assert zlib.ZLIB_RUNTIME_VERSION in compressor_id("gzip")
    assert zstandard.__version__ in compressor_id("zstd")
    assert ("isal-" in compressor_id("gzip")) == (compress.gzip_backend() == "isal")


# Golden digests pin the byte layout: a change without a new compressor_id would poison caches.
GOLDEN = {
    "pgz1/zlib-1.2.13/b1048576": "a061a08242b0f8072c1f716be0b1cf9e8a7ba0147327b5269f0228e6200ba81f",
    "pgz1/zlib-1.2.13/isal-2.32.1/b1048576": "46cf7e926a8620859b5d0dd5e07d3eb2147b260cbcb6346781e61918f212e93c",
    "zst1/zstandard-0.25.0/libzstd-1.5.7": "5e79af7c4870632ced7015e9d25e5a3bd0c0987e9e1db8c65d287eb8a9588f75",
}


@pytest.mark.parametrize("algorithm", ["gzip", "zstd"])
def test_output_matches_the_recorded_digest_for_this_library_version(algorithm):
    key = compressor_id(algorithm)
    if key not in GOLDEN:
        pytest.skip(f"no digest recorded for {key}")
    data = MIXED * 3  # > 2 zstd jobs, > 9 gzip blocks
    digest = hashlib.sha256(drain(compressing_reader(io.BytesIO(data), algorithm, threads=2))).hexdigest()
    assert digest == GOLDEN[key]


def test_zlib_backend_is_forced_by_the_environment_and_keeps_its_bytes(monkeypatch):
    monkeypatch.setattr(compress, "_backend", None)
    monkeypatch.setenv("PYPUSH_GZIP", "zlib")
    assert compress.gzip_backend() == "zlib" and "isal" not in compressor_id("gzip")
    digest = hashlib.sha256(drain(compressing_reader(io.BytesIO(MIXED * 3), "gzip", threads=2))).hexdigest()
    assert digest == GOLDEN[compressor_id("gzip")] or compressor_id("gzip") not in GOLDEN


@pytest.mark.parametrize("level", [1, 2])
def test_isal_levels_make_valid_streams_smaller_than_stored(level):
    pytest.importorskip("isal")
    data = MIXED + text_bytes(GZIP_BLOCK_SIZE)
    out = drain(ParallelGzipReader(io.BytesIO(data), level, threads=2))
    assert gzip.decompress(out) == data and len(out) < len(data) * 0.8
    assert deflate_block(data[:GZIP_BLOCK_SIZE], b"", level, "isal") != deflate_block(data[:GZIP_BLOCK_SIZE], b"", level)


_QEMU_CPUS = {"core2duo": "zlib", "Nehalem": "isal", "SandyBridge": "isal", "Haswell": "isal"}  # no SSE4.2, SSE4.2, AVX, AVX2


def test_isal_bytes_are_the_same_on_every_x86_code_path(tmp_path):
    """ISA-L dispatches on the CPU: under qemu, CPUs with SSE4.2/AVX/AVX2 (and this host) must make the same
    bytes; one without SSE4.2 (ISA-L's C fallback, another hash) must be caught by the probe and use zlib."""
    import platform
    import sys

    pytest.importorskip("isal")
    qemu = shutil.which("qemu-x86_64")
    if qemu is None or platform.machine() != "x86_64" or compress.gzip_backend() != "isal":
        pytest.skip("needs qemu-user on an x86-64 host where ISA-L passes its probe")
    sample = tmp_path / "sample"
    sample.write_bytes(mixed_bytes(2 * GZIP_BLOCK_SIZE + 999, seed=7))
    script = ("import hashlib, sys; from pypush.transform import compress as c; "
              "d = open(sys.argv[1], 'rb'); r = c.ParallelGzipReader(d, 1, threads=2); "
              "print(c.gzip_backend(), hashlib.sha256(r.read()).hexdigest())")
    procs = {cpu: subprocess.Popen([qemu, "-cpu", cpu, sys.executable, "-c", script, str(sample)],
                                   stdout=subprocess.PIPE, text=True) for cpu in _QEMU_CPUS}
    native = subprocess.run([sys.executable, "-c", script, str(sample)], stdout=subprocess.PIPE, text=True,
                            check=True).stdout.split()
    assert native[0] == "isal"
    for cpu, backend in _QEMU_CPUS.items():
        out, _ = procs[cpu].communicate(timeout=300)
        got = out.split()
        assert got[0] == backend, cpu
        if backend == "isal":
            assert got[1] == native[1], cpu


def test_close_stops_early_and_closes_the_source():
    src = Dribble(text_bytes(GZIP_BLOCK_SIZE) * 8, 1 << 20)
    r = ParallelGzipReader(src, threads=2)
    r.read(100)
    r.close()
    assert src.closed_ and r.closed
    with pytest.raises(ValueError):
        r.read(1)
    assert compress.cpu_threads() >= 1


def test_bench_module_imports():
    # The benchmark is run by hand; keep it importable so it does not rot.
    import importlib.util

    path = REPO_ROOT / "benchmarks" / "bench_compression.py"
    spec = importlib.util.spec_from_file_location("bench_compression", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.main)


def test_missing_zstandard_library_is_a_usage_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)  # what an install without a working backend gives
    with pytest.raises(UsageError, match="zstd needs the zstandard package"):
        compressing_reader(io.BytesIO(b"data"), "zstd")
