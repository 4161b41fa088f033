"""LocalEndpoint: the whole endpoint (store, doors, HTTP server) in a background thread."""
from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, List, Mapping, Optional, Union

from pypush.server.app import HEADER_TIMEOUT, App, EndpointServer
from pypush.server.aws.context import check_settings
from pypush.server.aws.dispatch import AwsDoor
from pypush.server.aws.entitled import load_entitlements, parse_entitlements
from pypush.server.aws.scans import load_scan_findings, parse_scan_findings
from pypush.server.aws.limits import FaultPlan, Faults, Quotas
from pypush.server.aws.sigv4 import Verifier
from pypush.server.settings import DEFAULT_QUIRKS, TOKEN_LIFETIME, Settings, parse_quirks
from pypush.server.store.data_lock import DataDirLock
from pypush.server.store.store import UPLOAD_LIFETIME, Clock, Store


def _seed(value: Union[str, Path, Mapping[str, Any], None], load: Callable[[str], Any],
          parse: Callable[[Any], Any]) -> Any:
    """A seed file's checked content: from its path, or from the mapping given in its place."""
    if value is None:
        return {}
    return load(str(value)) if isinstance(value, (str, Path)) else parse(dict(value))


class LocalEndpoint:
    """The local ECR Public endpoint in a background thread; a context manager.

    ``data_dir=None`` uses a temporary directory removed at ``stop()``. ``url``, ``port`` and
    ``host_port`` are known after ``start()``. Raises ValueError for an alias, registry id or part
    size the ECR Public model does not allow. Unfinished uploads without a part for ``upload_lifetime``
    seconds are discarded.

    Premium repositories: their registry door listens on a port of its own (``premium_port``, 0: any
    free one; ``premium_url``/``premium_host_port`` after ``start()``). ``verified_registry=False``
    refuses CreatePremiumRepository (the verified-registry stub); ``owned_products`` is the Marketplace
    stub's allow-list (None: any well-formed id); ``public_products`` the products that are PUBLIC
    (None: all). ``clock`` (epoch seconds) is the endpoint's time, ``clock_offset`` seconds added to
    the real one: uploads expire, image deprecations fall due, pulls are counted and report periods and
    download URLs follow it. ``entitlements`` (buyer account -> product ids) and ``scan_findings`` (image
    digest -> findings) seed the Marketplace-agreements and scanner stubs: a JSON file's path or its parsed
    content (docs/local-endpoint-premium.md).
    """

    def __init__(self, data_dir: Union[str, Path, None] = None, host: str = "127.0.0.1", port: int = 0,
                 part_size: int = 10 * 1024 * 1024, enforce_quotas: bool = False,
                 access_key: Optional[str] = None, secret_key: Optional[str] = None, alias: str = "local",
                 registry_id: str = "123456789012", faults: Union[str, FaultPlan, None] = None,
                 registry_quirks: Union[str, Iterable[str], None] = None, login: str = "public",
                 token_lifetime: int = TOKEN_LIFETIME, header_timeout: float = HEADER_TIMEOUT,
                 upload_lifetime: float = UPLOAD_LIFETIME, premium_port: int = 0, verified_registry: bool = True,
                 owned_products: Optional[Iterable[str]] = None, public_products: Optional[Iterable[str]] = None,
                 clock: Optional[Clock] = None, clock_offset: float = 0.0,
                 entitlements: Union[str, Path, Mapping[str, Any], None] = None,
                 scan_findings: Union[str, Path, Mapping[str, Any], None] = None):
        if (access_key is None) != (secret_key is None):
            raise ValueError("access_key and secret_key go together")
        self.data_dir: Optional[Path] = Path(data_dir) if data_dir is not None else None
        self.host = host
        self.port = port
        quirks = (parse_quirks(registry_quirks) if isinstance(registry_quirks, str)
                  else DEFAULT_QUIRKS if registry_quirks is None else frozenset(registry_quirks))
        if clock is not None and clock_offset:
            raise ValueError("clock and clock_offset do not go together")
        if clock is None:
            clock = time.time if not clock_offset else (lambda: time.time() + clock_offset)
        self.settings = Settings(registry_id=registry_id, alias=alias, part_size=part_size, login=login,
                                 quirks=quirks, token_lifetime=token_lifetime, verified_registry=verified_registry,
                                 owned_products=None if owned_products is None else frozenset(owned_products),
                                 public_products=None if public_products is None else frozenset(public_products),
                                 clock=clock, entitlements=_seed(entitlements, load_entitlements, parse_entitlements),
                                 scan_findings=_seed(scan_findings, load_scan_findings, parse_scan_findings))
        self.premium_port = premium_port
        if not header_timeout > 0:
            raise ValueError(f"header timeout must be above 0 seconds, not {header_timeout}")
        self.header_timeout = header_timeout
        if not upload_lifetime > 0:
            raise ValueError(f"upload lifetime must be above 0 seconds, not {upload_lifetime}")
        self.upload_lifetime = upload_lifetime
        self.clock = clock
        check_settings(self.settings)
        self.enforce_quotas = enforce_quotas
        self.keys = (access_key, secret_key) if access_key is not None and secret_key is not None else None
        self.faults = FaultPlan.parse(faults) if isinstance(faults, str) else faults
        self._temp: Optional[str] = None
        self._server: Optional[EndpointServer] = None
        self._premium: Optional[EndpointServer] = None
        self._thread: Optional[threading.Thread] = None
        self._threads: List[threading.Thread] = []
        self._store: Optional[Store] = None
        self._lock: Optional[DataDirLock] = None
        self._sweeper: Optional[threading.Thread] = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, the endpoint_url for botocore."""
        return f"http://{self.host_port}"

    @property
    def host_port(self) -> str:
        """``HOST:PORT``, for ``docker://HOST:PORT/REPO:TAG`` references."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def premium_url(self) -> str:
        """``http://HOST:PREMIUM_PORT``, the premium repositories' registry door."""
        return f"http://{self.premium_host_port}"

    @property
    def premium_host_port(self) -> str:
        """``HOST:PREMIUM_PORT``: premiumRegistryUri is ``HOST:PREMIUM_PORT/ALIAS``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.premium_port}"

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
            for server in (self._server, self._premium):
                if server is not None:
                    server.server_close()
            self._server = self._premium = None
            if self._store is not None:
                self._store.close()
                self._store = None
            self._lock.release()
            raise
        return self

    def _open(self, data_dir: Path) -> None:
        """Open the store and serve it from a background thread."""
        self._store = Store(data_dir, clock=self.clock, upload_lifetime=self.upload_lifetime)
        verifier = Verifier(*self.keys) if self.keys else None
        aws = AwsDoor(self._store, self.settings, verifier=verifier, quotas=Quotas() if self.enforce_quotas else None,
                      faults=Faults(self.faults) if self.faults else None)
        self._server = EndpointServer((self.host, self.port), App(self._store, self.settings, aws),
                                      self.header_timeout)
        self.port = self._server.server_address[1]
        self._premium = EndpointServer((self.host, self.premium_port),
                                       App(self._store, self.settings, aws, premium=True), self.header_timeout)
        self.premium_port = self._premium.server_address[1]
        self.settings.url = self.url
        self.settings.premium_url = self.premium_url
        self._threads = [threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                          name=f"pypush-serve-{server.server_address[1]}", daemon=True)
                         for server in (self._server, self._premium)]
        self._thread = self._threads[0]
        for thread in self._threads:
            thread.start()
        self._stopping.clear()
        self._sweeper = threading.Thread(target=self._sweep, args=(self._store,), daemon=True,
                                         name=f"pypush-serve-uploads-{self.port}")
        self._sweeper.start()

    def _sweep(self, store: Store) -> None:
        """Discard abandoned uploads now and then, so an idle endpoint frees their files too."""
        while not self._stopping.wait(min(self.upload_lifetime / 4, 60.0)):
            store.expire_uploads()

    def serve_forever(self) -> None:
        """Block until ``stop()`` is called from another thread (or a signal handler)."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        servers = [s for s in (self._server, self._premium) if s is not None]
        self._server = self._premium = None
        if not servers:
            return
        self._stopping.set()
        for server in servers:
            server.shutdown()
            server.close_connections()
            server.server_close()
        for server in servers:
            server.wait_idle(timeout=10)
        for thread in [*self._threads, self._sweeper]:
            if thread is not None:
                thread.join(timeout=10)
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
