"""Source directories are checked in the platform's own path syntax (Windows paths included)."""
from __future__ import annotations

import ntpath
import os
import posixpath

import pytest

from pypush.errors import SourceError
from pypush.sources.tree import DirTree, is_within


@pytest.mark.parametrize("paths, path, root, inside", [
    (ntpath, r"C:\img\layout\blobs\sha256\ab", r"C:\img\layout", True),
    (ntpath, r"c:\IMG\Layout\index.json", r"C:\img\layout", True),  # Windows paths ignore case
    (ntpath, r"C:\img\layout", r"C:\img\layout", True),
    (ntpath, r"C:\img\layout2\index.json", r"C:\img\layout", False),
    (ntpath, r"D:\img\layout\index.json", r"C:\img\layout", False),
    (ntpath, "C:\\x\\y", "C:\\", True),
    (ntpath, r"\\server\share\img\x", r"\\server\share\img", True),
    (posixpath, "/img/layout/blobs/x", "/img/layout", True),
    (posixpath, "/img/layout2/x", "/img/layout", False),
    (posixpath, "/etc/passwd", "/", True),
])
def test_is_within(paths, path, root, inside):
    assert is_within(path, root, paths) is inside


def test_dir_tree_reads_files_below_its_root_and_refuses_escapes(tmp_path):
    root = tmp_path / "layout"
    (root / "blobs").mkdir(parents=True)
    (root / "blobs" / "a").write_bytes(b"abc")
    (tmp_path / "secret").write_bytes(b"x")
    os.symlink(tmp_path / "secret", root / "blobs" / "out")
    tree = DirTree(str(root) + os.sep)
    assert tree.label == str(root) and tree.size("blobs/a") == 3
    with pytest.raises(SourceError, match="outside"):
        tree.size("blobs/out")
