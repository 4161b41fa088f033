"""Byte code for the image's interpreter: compiled here when this interpreter is the target's version, else by
an interpreter of that version found on this machine (PATH, pyenv, uv) in a helper process, byte for byte what
that interpreter's own ``py_compile`` writes with checked-hash invalidation; none at all without one."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from pypush.pybuild import bytecode
from pypush.pybuild.target import Target

SOURCE = b"import sys\nANSWER = 6 * 7\ndef f(x):\n    return [i * x for i in range(3)]\n"


def _target(version, implementation: str = "cp") -> Target:
    return Target(os="linux", architecture="amd64", variant="", implementation=implementation,
                  python_version=version, python_full_version="%d.%d.0" % version, interpreter="/usr/bin/python3",
                  site_dir="/usr/lib/python3/dist-packages", bin_dir="/usr/bin", prefix="/usr", libc="glibc",
                  libc_version=(2, 36))


def _other_version():
    """A CPython minor version other than this one that this machine has (the CI machine has pyenv 3.9-3.13)."""
    for minor in (9, 13, 12, 10, 11):
        if (3, minor) != sys.version_info[:2] and bytecode.candidates("cpython", (3, minor)):
            return (3, minor)
    pytest.skip("no CPython of another version on this machine")


def _py_compile_by(executable: str, tmp_path) -> bytes:
    """What ``executable``'s own py_compile writes for SOURCE (checked hash), named /app/mod.py."""
    src = tmp_path / "mod.py"
    src.write_bytes(SOURCE)
    out = tmp_path / "mod.pyc"
    subprocess.run([executable, "-I", "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], sys.argv[2], "
                    "'/app/mod.py', doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)",
                    str(src), str(out)], check=True)
    return out.read_bytes()


def test_this_interpreter_compiles_its_own_version(tmp_path):
    compiler = bytecode.compiler_for(_target(tuple(sys.version_info[:2]), "cp" if sys.implementation.name ==
                                             "cpython" else "pp"))
    assert compiler is not None and not isinstance(compiler, bytecode.WorkerCompiler)
    data, theirs = compiler.compile(SOURCE, "/app/mod.py"), _py_compile_by(sys.executable, tmp_path)
    if sys.implementation.name == "cpython":
        assert data == theirs
    else:  # PyPy's marshal flags a string as interned or not by the state of the process that writes it
        import marshal

        assert data[:16] == theirs[:16] and marshal.loads(data[16:]).co_code == marshal.loads(theirs[16:]).co_code
    assert compiler.compile(b"def broken(:\n", "/app/bad.py") is None


def test_another_version_is_compiled_by_an_interpreter_of_that_version(tmp_path):
    version = _other_version()
    compiler = bytecode.compiler_for(_target(version))
    assert isinstance(compiler, bytecode.WorkerCompiler) and f"cpython {version[0]}.{version[1]}." in compiler.name
    data = compiler.compile(SOURCE, "/app/mod.py")
    assert data == _py_compile_by(compiler.executable, tmp_path)
    assert data[4:8] == b"\x03\0\0\0"  # flags: hash-based, checked
    magic = subprocess.run([compiler.executable, "-I", "-c", "import importlib.util, sys; "
                            "sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER)"], capture_output=True, check=True)
    assert data[:4] == magic.stdout and data[:4] != __import__("importlib.util").util.MAGIC_NUMBER
    assert compiler.compile(b"def broken(:\n", "/app/bad.py") is None
    assert compiler.compile(SOURCE, "/app/again.py")  # the helper serves many modules


def test_no_interpreter_of_the_version_means_no_byte_code(caplog):
    assert bytecode.compiler_for(dataclasses.replace(_target((3, 2)))) is None
    assert "no cpython 3.2 on this machine" in caplog.text and "no .pyc files" in caplog.text
