"""The image tree is walked once per push: the short cut of an unchanged re-push, the verify-ahead, the uploads,
the manifests and the result all read the one WalkedImage (pypush.engine.walked)."""
from __future__ import annotations

import sys
from typing import List

import pytest

from conftest import FIXTURES
from pullcheck import oci_top_digest

import pypush.engine.transfer  # noqa: F401  (loaded before the fixture patches its names)
from pypush.engine.copy import send_image
from pypush.engine.options import PushOptions
from pypush.image import model
from pypush.image.model import ImageIndex
from pypush.sources import open_source


@pytest.fixture
def walks(monkeypatch) -> List[str]:
    """Every call of the node iterator (``pypush.image.model.walk``, wherever a module imported it), by the
    digest of the node it walked from."""
    calls: List[str] = []
    original = model.walk

    def counted(node):
        calls.append(node.descriptor.digest)
        return original(node)

    for name, module in list(sys.modules.items()):
        if name.startswith("pypush") and getattr(module, "walk", None) is original:
            monkeypatch.setattr(module, "walk", counted)
    return calls


def test_a_multi_platform_push_and_its_repush_walk_the_image_once_each(docker_registry, walks):
    dest = f"{docker_registry.host}/multi:1"
    want = oci_top_digest(FIXTURES / "multiarch.oci")
    with open_source(f"oci:{FIXTURES / 'multiarch.oci'}:1") as src:
        root = src.root
        assert isinstance(root, ImageIndex) and len(root.children) >= 2
        walks.clear()  # opening the source may walk it: only the push counts
        first = send_image(root, dest, options=PushOptions(insecure=True))
        assert (first.digest, first.unchanged, len(first.children)) == (want, False, len(root.children))
        assert walks == [want]
        walks.clear()
        again = send_image(root, dest, options=PushOptions(insecure=True))
        assert (again.digest, again.unchanged, again.children) == (want, True, first.children)
        assert walks == [want]
