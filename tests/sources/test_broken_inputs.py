"""Every broken input of the corpus is refused with one line naming the problem."""
from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from broken_corpus import STREAM_CASES, Case, make_corpus
from pypush.image.digest import VerifyingReader
from pypush.errors import DigestMismatchError, SourceError
from pypush.image.model import ImageManifest, walk
from pypush.sources import open_source


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> List[Case]:
    return make_corpus(tmp_path_factory.mktemp("broken"))


def _stream_all(spec: str) -> None:
    with open_source(spec) as src:
        for node in walk(src.root):
            if isinstance(node, ImageManifest):
                for blob in node.blobs:
                    with blob.open() as f:
                        reader = VerifyingReader(f, blob.descriptor.digest, blob.descriptor.size, blob.name)
                        while reader.read(1 << 16):
                            pass


def test_corpus_is_large_and_unique(corpus: List[Case]) -> None:
    ids = [case[0] for case in corpus]
    assert len(ids) >= 25
    assert len(set(ids)) == len(ids)
    assert STREAM_CASES <= set(ids)


def test_every_case_is_refused(corpus: List[Case]) -> None:
    failures = []
    for case, spec, expect in corpus:
        want = DigestMismatchError if case in STREAM_CASES else SourceError
        try:
            if case in STREAM_CASES:
                _stream_all(spec)
            else:
                open_source(spec)
        except want as e:
            message = str(e)
            if expect not in message or "\n" in message:
                failures.append(f"{case}: message {message!r} lacks {expect!r} or is not one line")
        except Exception as e:  # noqa: BLE001 - anything else is a failure of the reader
            failures.append(f"{case}: raised {type(e).__name__}: {e}")
        else:
            failures.append(f"{case}: accepted {spec}")
    assert not failures, "\n".join(failures)


def test_stream_cases_open_cleanly(corpus: List[Case]) -> None:
    """Content mismatches pass open_source (only manifests are verified there) and fail in the stream."""
    for case, spec, _ in corpus:
        if case in STREAM_CASES:
            open_source(spec)


def test_messages_name_the_input(corpus: List[Case]) -> None:
    """Each message names the file, directory or archive at fault (its basename appears)."""
    for case, spec, _ in corpus:
        if case in STREAM_CASES:
            continue
        with pytest.raises(SourceError) as info:
            open_source(spec)
        path = spec.split(":", 1)[1] if spec.startswith(("oci:", "docker-archive:")) else spec
        stem = Path(path.split(":")[0]).name
        assert stem in str(info.value), f"{case}: {info.value}"
