"""LocalEndpoint: the whole endpoint (store, doors, HTTP server) in a background thread."""
from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

from pypush.server.app import HEADER_TIMEOUT, App, EndpointServer
from pypush.server.aws.context import check_settings
from pypush.server.aws.dispatch import AwsDoor
from pypush.server.aws.limits import FaultPlan, Faults, Quotas
from pypush.server.aws.sigv4 import Verifier
from pypush.server.settings import DEFAULT_QUIRKS, TOKEN_LIFETIME, Settings, parse_quirks
from pypush.server.store.data_lock import DataDirLock
from pypush.server.store.store import Store


class LocalEndpoint:
    """The local ECR Public endpoint in a background thread; a context manager.

    ``data_dir=None`` uses a temporary directory removed at ``stop()``. ``url``, ``port`` and
    ``host_port`` are known after ``start()``. Raises ValueError for an alias, registry id or part
    size the ECR Public model does not allow. ``clock`` is the endpoint's "now" (seconds since the epoch):
    pull counts, report periods and download URLs follow it.
    """

    def __init__(self, data_dir: Union[str, Path, None] = None, host: str = "127.0.0.1", port: int = 0,
                 part_size: int = 10 * 1024 * 1024, enforce_quotas: bool = False,
                 access_key: Optional[str] = None, secret_key: Optional[str] = None, alias: str = "local",
                 registry_id: str = "123456789012", faults: Union[str, FaultPlan, None] = None,
                 registry_quirks: Union[str, Iterable[str], None] = None, login: str = "public",
                 token_lifetime: int = TOKEN_LIFETIME, header_timeout: float = HEADER_TIMEOUT,
                 clock: Callable[[], float] = time.time):
        if (access_key is None) != (secret_key is None):
            raise ValueError("access_key and secret_key go together")
        self.data_dir: Optional[Path] = Path(data_dir) if data_dir is not None else None
        self.host = host
        self.port = port
        quirks = (parse_quirks(registry_quirks) if isinstance(registry_quirks, str)
                  else DEFAULT_QUIRKS if registry_quirks is None else frozenset(registry_quirks))
        self.settings = Settings(registry_id=registry_id, alias=alias, part_size=part_size, login=login,
                                 quirks=quirks, token_lifetime=token_lifetime, clock=clock)
        if not header_timeout > 0:
            raise ValueError(f"header timeout must be above 0 seconds, not {header_timeout}")
        self.header_timeout = header_timeout
        check_settings(self.settings)
        self.enforce_quotas = enforce_quotas
        self.keys = (access_key, secret_key) if access_key is not None and secret_key is not None else None
        self.faults = FaultPlan.parse(faults) if isinstance(faults, str) else faults
        self._temp: Optional[str] = None
        self._server: Optional[EndpointServer] = None
        self._thread: Optional[threading.Thread] = None
        self._store: Optional[Store] = None
        self._lock: Optional[DataDirLock] = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, the endpoint_url for botocore."""
        return f"http://{self.host_port}"

    @property
    def host_port(self) -> str:
        """``HOST:PORT``, for ``docker://HOST:PORT/REPO:TAG`` references."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> "LocalEndpoint":
        if self._server is not None:
            return self
        if self.data_dir is None:
            self._temp = tempfile.mkdtemp(prefix="pypush-serve-")
            self.data_dir = Path(self._temp)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = DataDirLock(self.data_dir).acquire()  # one server per data directory (DataDirInUse)
        try:
            self._open(self.data_dir)
        except BaseException:
            if self._store is not None:
                self._store.close()
                self._store = None
            self._lock.release()
            raise
        return self

    def _open(self, data_dir: Path) -> None:
        """Open the store and serve it from a background thread."""
        self._store = Store(data_dir)
        verifier = Verifier(*self.keys) if self.keys else None
        aws = AwsDoor(self._store, self.settings, verifier=verifier, quotas=Quotas() if self.enforce_quotas else None,
                      faults=Faults(self.faults) if self.faults else None)
        app = App(self._store, self.settings, aws)
        self._server = EndpointServer((self.host, self.port), app, self.header_timeout)
        self.port = self._server.server_address[1]
        self.settings.url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"pypush-serve-{self.port}", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Block until ``stop()`` is called from another thread (or a signal handler)."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        server.wait_idle(timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._store is not None:
            self._store.close()
        if self._lock is not None:
            self._lock.release()
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self.data_dir, self._temp = None, None

    def __enter__(self) -> "LocalEndpoint":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
