"""Shared test fixtures: real servers on loopback ports and an independent client (skopeo)."""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

# Tests talk to loopback only: never let botocore's credential chain ask the instance metadata service.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))  # the helper modules tests import
FIXTURES = REPO_ROOT / "fixtures"

SERVER_FIXTURES = set()
"""Names of the fixtures that start a server or skopeo: a test using one is marked ``servers``."""


def server_fixture(*args, **kwargs):
    """``pytest.fixture`` for a fixture that starts a server (or skopeo): its tests get the ``servers``
    marker, so ``-m "not servers"`` runs the unit tests alone."""
    def register(fn):
        SERVER_FIXTURES.add(fn.__name__)
        return pytest.fixture(*args, **kwargs)(fn)
    if len(args) == 1 and callable(args[0]) and not kwargs:
        fn, args = args[0], ()
        return register(fn)
    return register


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "servers: starts a server (local endpoint, docker-registry, moto, a proxy, "
                                       "any listening socket) or skopeo; -m 'not servers' runs the unit tests")
    config.addinivalue_line("markers", "endpoint_api: the local endpoint's AWS API tests, also run by .ci/run against "
                                       "the oldest declared and the newest released dependencies")
    config.addinivalue_line("markers", "aws_cli: drives the AWS CLI v1 (a test client, not a pypush dependency: "
                                       "left out of .ci/run's oldest/newest-dependency runs; tests named *aws_cli* "
                                       "and the premium CLI file are marked by their names)")
    config.addinivalue_line("markers", "other_python: runs pypush under another CPython itself (a venv made by the "
                                       "test): left out of .ci/run's runs on other Pythons, which are that already")
    config.addinivalue_line("markers", "zstd: needs zstandard (skipped where it does not load; tests named *zstd* "
                                       "are marked by their name)")


def pytest_sessionfinish(session, exitstatus) -> None:
    """The secrets guard: no registered secret in any CLI output or pypush log record of the session."""
    leaks = sorted({text[:200] for text in CLI_OUTPUTS + LOG_LINES for secret in SECRETS_USED if secret in text})
    if leaks:
        sys.stderr.write("\nSECRET LEAKED into output during the session:\n" + "\n".join(map(repr, leaks)) + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _zstd_unusable() -> str:
    """Why zstandard does not load here ("" when it does): on PyPy older than its cffi 1.17 the package
    installs without a backend, and pypush's zstd features say so (the rest works)."""
    try:
        import zstandard  # noqa: F401
    except ImportError as exc:
        return f"zstandard does not load on this Python ({exc})"
    return ""


def pytest_collection_modifyitems(config, items) -> None:
    no_zstd = _zstd_unusable()
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
        if "aws_cli" in item.nodeid or "premium_cli" in item.nodeid:
            item.add_marker(pytest.mark.aws_cli)
        if no_zstd and ("zstd" in item.nodeid.lower() or item.get_closest_marker("zstd")):
            item.add_marker(pytest.mark.skip(reason=no_zstd))


@pytest.fixture(autouse=True)
def _test_environment(request, tmp_path_factory, monkeypatch):
    """Each test its own layer cache; a test not marked ``servers`` may not open a listening socket."""
    monkeypatch.setenv("PYPUSH_CACHE_DIR", str(tmp_path_factory.mktemp("layer-cache")))
    if request.node.get_closest_marker("servers") is None:
        def refuse(self, *args):
            pytest.fail("this test starts a server: use a server_fixture, or mark it pytest.mark.servers")
        monkeypatch.setattr(socket.socket, "listen", refuse)
        monkeypatch.setattr(subprocess, "Popen", _ServerlessPopen)


SERVER_COMMANDS = frozenset({"serve", "demo", "docker-registry", "moto_server", "skopeo", "chromium", "umoci"})
"""Words of a command line that start a server (or a client that needs one): not in unit tests."""


class _ServerlessPopen(subprocess.Popen):
    def __init__(self, args, *rest, **kwargs):
        argv = [str(a) for a in (args if isinstance(args, (list, tuple)) else str(args).split())]
        words = [os.path.basename(a) for a in argv]
        if words and words[0] in ("sh", "bash") and "-c" in words:  # a shell command line: its words
            words += argv[words.index("-c") + 1].split()
        module = [argv[k + 1] for k, w in enumerate(argv[:-1]) if w == "-m"]
        if SERVER_COMMANDS.intersection(words) or any(m.startswith("pypush.server") for m in module):
            pytest.fail(f"this test runs {' '.join(argv)[:80]}: use a server_fixture, or mark it "
                        f"pytest.mark.servers")
        super().__init__(args, *rest, **kwargs)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class Skopeo:
    """Runs Debian's skopeo with a permissive private policy and no TLS on loopback."""

    def __init__(self, tmp: Path):
        self.policy = tmp / "policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["skopeo", "--policy", str(self.policy), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed: {proc.stderr}")
        return proc

    def pull_oci(self, ref: str, dest: Path, all_images: bool = True) -> Path:
        """`skopeo copy docker://REF oci:DEST:latest`; returns DEST."""
        args = ["copy", "-q", "--src-tls-verify=false"]
        if all_images:
            args.append("--all")
        self.run(*args, f"docker://{ref}", f"oci:{dest}:latest")
        return dest

    def inspect_raw(self, ref: str) -> bytes:
        """The exact manifest bytes a registry serves for REF."""
        cmd = ["skopeo", "--policy", str(self.policy), "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"]
        return subprocess.run(cmd, capture_output=True, check=True, timeout=120).stdout


@server_fixture(scope="session")
def skopeo(tmp_path_factory) -> Skopeo:
    if not shutil.which("skopeo"):
        pytest.fail("skopeo is not installed (apt-get install -y skopeo); .ci/run installs it")
    # A cold blob-info cache keeps skopeo from trusting earlier runs.
    for p in ("/var/lib/containers/cache/blob-info-cache-v1.boltdb",):
        try:
            os.remove(p)
        except OSError:
            pass
    return Skopeo(tmp_path_factory.mktemp("skopeo"))


class DockerRegistry:
    """Debian's docker-registry (the reference distribution registry) on a loopback port."""

    def __init__(self, root: Path, extra_config: str = ""):
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = root / "config.yml"
        (root / "data").mkdir(parents=True, exist_ok=True)
        config.write_text(
            "version: 0.1\n"
            "log: {level: error}\n"
            f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: 127.0.0.1:{self.port}}}\n" + extra_config
        )
        self.log = open(root / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=self.log, stderr=self.log)
        wait_for_port(self.port)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def start_docker_registry(tmp: Path, extra_config: str = "") -> DockerRegistry:
    """Start a registry; the caller stops it. Fails (not skips) when the package is missing."""
    if not shutil.which("docker-registry"):
        pytest.fail("docker-registry is not installed (apt-get install -y docker-registry); .ci/run installs it")
    return DockerRegistry(tmp, extra_config)


@server_fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[DockerRegistry]:
    """One docker-registry for the tests of a module (a module needing another configuration defines its own)."""
    reg = start_docker_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@server_fixture
def docker_registry(tmp_path) -> Iterator[DockerRegistry]:
    reg = start_docker_registry(tmp_path / "registry")
    yield reg
    reg.stop()


@pytest.fixture
def docker_config(tmp_path, monkeypatch) -> Path:
    """An empty private DOCKER_CONFIG directory (tests write config.json into it)."""
    d = tmp_path / "docker-config"
    d.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    return d


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def oci_blob_path(layout: Path, digest: str) -> Path:
    algo, _, hexd = digest.partition(":")
    return layout / "blobs" / algo / hexd


def oci_manifests(layout: Path) -> List[dict]:
    """Descriptors of index.json of an OCI layout."""
    return json.loads((layout / "index.json").read_text())["manifests"]


@server_fixture
def endpoint(tmp_path):
    """The project's own local ECR Public endpoint, in a background thread on an ephemeral port."""
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path / "ecr-data") as ep:
        yield ep


CLI_OUTPUTS: List[str] = []
"""Everything every CLI run of the session printed (the session-end secrets guard greps it)."""
SECRETS_USED: set = set()
"""Secrets test modules use (they add theirs at import); none may appear in any output of the session."""
LOG_LINES: List[str] = []
"""Every record the ``pypush`` logger emitted in-process during the session, at DEBUG level."""


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        LOG_LINES.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def collect_pypush_logs():
    logger = logging.getLogger("pypush")
    handler = _Collect(logging.DEBUG)
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield
    logger.removeHandler(handler)
    logger.setLevel(old)


def run_pypush(*args: str, env: dict = None, input: str = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the CLI as users do (``python -m pypush``) in a subprocess; never raises on failure."""
    import sys

    full_env = dict(os.environ)
    full_env.pop("AWS_PROFILE", None)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "pypush", *args], capture_output=True, text=True,
                          env=full_env, input=input, timeout=timeout, cwd=str(REPO_ROOT))
    CLI_OUTPUTS.extend([proc.stdout, proc.stderr])
    return proc


@server_fixture(scope="module")
def moto_url(tmp_path_factory):
    """moto's server (an independent implementation of the ECR API) on a loopback port."""
    port = free_port()
    cmd = [sys.executable, "-m", "moto.server", "-p", str(port)]  # the moto installed beside the tests' Python
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
