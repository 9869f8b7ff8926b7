"""One check of one monitor, as async I/O; a Prober serves a whole run of batches.

Every user connection goes through `GuardedNetworkBackend`: the host is resolved, every address
judged by the TargetPolicy, and the connection made to the judged address, so a monitor a
tenant wrote straight into the database still cannot reach the platform or a private network.
TLS is verified; redirects are not followed (a 3xx is judged by the expected status ranges);
at most 64 KiB of a body is read. The platform's checks of apps go to the configured Traefik
entry with the app's Host header (the destination is configuration, never user input), and
process liveness is one GET to deploy per run.
"""

import asyncio
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpcore
from loguru import logger

from berth_monitoring.checks.conditions import judge_http
from berth_monitoring.checks.deploy_views import LivenessView, VpsStateView
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.enums import ErrorKind, MonitorKind
from berth_monitoring.targets import (
    GuardedNetworkBackend,
    TargetPolicy,
    TargetRefused,
    TargetUnresolvable,
)

BODY_LIMIT = 64 * 1024
USER_AGENT = b"Berth-Monitor/1.0"


@dataclass(slots=True)
class CheckTarget:
    """What a check needs of a Monitor row (plain values: no ORM object crosses the await)."""

    id: uuid.UUID
    seq: int
    kind: str
    url: str | None
    host: str | None
    port: int | None
    http: dict[str, Any]
    timeout_seconds: float
    interval_seconds: int
    grace_seconds: int
    last_beat_at: datetime | None
    created_at: datetime
    app_id: uuid.UUID | None


@dataclass(slots=True)
class Outcome:
    ok: bool
    started: float  # epoch seconds
    latency_ms: int = 0
    error_kind: ErrorKind | None = None
    reason: str | None = None
    status: int | None = None
    cert_expires_at: datetime | None = None


def _failure(started: float, kind: ErrorKind, reason: str, **extra: Any) -> Outcome:
    latency = int((time.time() - started) * 1000)
    return Outcome(False, started, latency, kind, reason[:500], **extra)


def _cert_expiry(stream: Any) -> datetime | None:
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    not_after = cert.get("notAfter") if cert else None
    if not not_after:
        return None
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)


def _connect_failure(started: float, exc: Exception) -> Outcome:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLError) or "CERTIFICATE" in text.upper() or "SSL" in text.upper():
        return _failure(started, ErrorKind.TLS, f"TLS failed: {text}")
    return _failure(started, ErrorKind.CONNECT, f"connection failed: {text}")


class Prober:
    """The connection pools and limits of one run; `async with Prober(...) as prober`."""

    def __init__(
        self,
        settings: MonitoringSettings,
        policy: TargetPolicy,
        *,
        concurrency: int,
        user_backend: httpcore.AsyncNetworkBackend | None = None,
    ):
        self.settings = settings
        self.policy = policy
        self.semaphore = asyncio.Semaphore(concurrency)
        self.guarded = GuardedNetworkBackend(policy, user_backend)
        # the platform's own route checks: to the configured Traefik entry only, unjudged
        self.platform_backend = httpcore.AnyIOBackend()
        self.ssl_context = ssl.create_default_context()
        self.liveness = LivenessView(settings)
        self.vps_states = VpsStateView(settings, self.liveness)

    async def __aenter__(self) -> "Prober":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.liveness.aclose()

    async def check(self, target: CheckTarget, not_before: datetime | None = None) -> Outcome:
        """The outcome of one check, started no earlier than `not_before` (its slot)."""
        if not_before is not None:
            wait = (not_before - datetime.now(UTC)).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
        async with self.semaphore:
            started = time.time()
            try:
                async with asyncio.timeout(target.timeout_seconds):
                    return await self._check(target, started)
            except TimeoutError:
                return _failure(
                    started,
                    ErrorKind.TIMEOUT,
                    f"no answer within {target.timeout_seconds:g} s",
                )
            except TargetRefused as exc:
                return _failure(started, ErrorKind.REFUSED_TARGET, exc.reason)
            except TargetUnresolvable as exc:
                return _failure(started, ErrorKind.DNS, str(exc))
            except Exception as exc:  # a check's bug must not fail the batch
                logger.opt(exception=exc).warning("check of monitor {} failed", target.id)
                return _failure(started, ErrorKind.ERROR, f"check failed: {type(exc).__name__}")

    async def _check(self, target: CheckTarget, started: float) -> Outcome:
        match target.kind:
            case MonitorKind.HTTP:
                return await self._http(self.guarded, target, target.url or "", None, started)
            case MonitorKind.TCP:
                return await self._tcp(target, started)
            case MonitorKind.HEARTBEAT:
                return self._heartbeat(target, started)
            case MonitorKind.APP_HTTP:
                url, host = self._route_of(target)
                return await self._http(self.platform_backend, target, url, host, started)
            case MonitorKind.APP_PROCESS:
                return await self._process(target, started)
            case MonitorKind.VPS:
                return await self._vps(target, started)
        return _failure(started, ErrorKind.ERROR, f"unknown monitor kind {target.kind}")

    def _route_of(self, target: CheckTarget) -> tuple[str, str]:
        """app_http: `url` is the health path (or the app's URL), `host` its route's host."""
        parts = urlsplit(target.url or "/")
        host = target.host or parts.hostname or ""
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        return self.settings.traefik_entry_url.rstrip("/") + path, host

    async def _http(
        self,
        backend: httpcore.AsyncNetworkBackend,
        target: CheckTarget,
        url: str,
        host: str | None,
        started: float,
    ) -> Outcome:
        conditions = target.http or {}
        method = str(conditions.get("method") or "GET").upper()
        headers = [(b"User-Agent", USER_AGENT), (b"Accept", b"*/*")]
        headers += [
            (str(k).encode("latin-1"), str(v).encode("latin-1"))
            for k, v in (conditions.get("headers") or {}).items()
        ]
        if host:
            headers.append((b"Host", host.encode("idna")))
        timeout = target.timeout_seconds
        extensions = {
            "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        }
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return _failure(started, ErrorKind.ERROR, "only http:// and https:// URLs are checked")
        request_url = httpcore.URL(url)
        # a fresh connection per check: it measures what a visitor meets (connect, TLS), and
        # a pool's bookkeeping grows with every request queued on one origin
        connection = httpcore.AsyncHTTPConnection(
            origin=request_url.origin, ssl_context=self.ssl_context, network_backend=backend
        )
        try:
            async with connection.stream(
                method, request_url, headers=headers, extensions=extensions
            ) as resp:
                body = bytearray()
                truncated = False
                if method != "HEAD":
                    async for chunk in resp.aiter_stream():
                        body += chunk
                        if len(body) >= BODY_LIMIT:
                            truncated = True
                            del body[BODY_LIMIT:]
                            break
                cert = _cert_expiry(resp.extensions.get("network_stream"))
                status = resp.status
        except httpcore.TimeoutException:
            return _failure(started, ErrorKind.TIMEOUT, f"no answer within {timeout:g} s")
        except httpcore.UnsupportedProtocol as exc:
            return _failure(started, ErrorKind.ERROR, f"unsupported URL: {exc}")
        except (httpcore.ConnectError, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            return _connect_failure(started, exc)
        finally:
            await connection.aclose()
        latency = int((time.time() - started) * 1000)
        failed = judge_http(conditions, status, bytes(body), truncated)
        days = conditions.get("cert_expiry_days")
        if failed is None and days and cert is not None:
            if cert - datetime.now(UTC) < timedelta(days=int(days)):
                failed = (ErrorKind.CERT_EXPIRING, f"the certificate expires {cert:%Y-%m-%d}")
        if failed is not None:
            return Outcome(False, started, latency, failed[0], failed[1][:500], status, cert)
        return Outcome(True, started, latency, status=status, cert_expires_at=cert)

    async def _tcp(self, target: CheckTarget, started: float) -> Outcome:
        if not target.host or not target.port:
            return _failure(started, ErrorKind.ERROR, "the monitor has no host and port")
        try:
            stream = await self.guarded.connect_tcp(
                target.host, target.port, timeout=target.timeout_seconds
            )
        except httpcore.TimeoutException:
            return _failure(started, ErrorKind.TIMEOUT, "connect timed out")
        except (httpcore.ConnectError, httpcore.NetworkError, OSError) as exc:
            return _connect_failure(started, exc)
        await stream.aclose()
        return Outcome(True, started, int((time.time() - started) * 1000))

    async def _vps(self, target: CheckTarget, started: float) -> Outcome:
        """SSH answers with its banner at the node's forwarded port (a destination deploy's
        event gave, never user input), and deploy says the machine runs."""
        if target.app_id is None or not target.host or not target.port:
            return _failure(started, ErrorKind.ERROR, "a VPS monitor without its VPS or port")
        try:
            stream = await self.platform_backend.connect_tcp(
                target.host, target.port, timeout=target.timeout_seconds
            )
        except httpcore.TimeoutException:
            return _failure(started, ErrorKind.TIMEOUT, "SSH: connect timed out")
        except (httpcore.ConnectError, httpcore.NetworkError, OSError) as exc:
            return _connect_failure(started, exc)
        try:
            banner = await stream.read(255, timeout=target.timeout_seconds)
        except (httpcore.TimeoutException, httpcore.NetworkError):
            banner = b""
        finally:
            await stream.aclose()
        if not banner.startswith(b"SSH-"):
            return _failure(started, ErrorKind.CONNECT, "SSH: the port answered no SSH banner")
        state, error = await self.vps_states.of_vps(target.app_id)
        if state is None:
            return _failure(started, ErrorKind.ERROR, error or "machine state unknown")
        if state != "running":
            return _failure(started, ErrorKind.PROCESS_DOWN, f"the machine is {state}")
        return Outcome(True, started, int((time.time() - started) * 1000))

    def _heartbeat(self, target: CheckTarget, started: float) -> Outcome:
        last = target.last_beat_at or target.created_at
        deadline = last + timedelta(seconds=target.interval_seconds + target.grace_seconds)
        if datetime.fromtimestamp(started, UTC) > deadline:
            seen = "never" if target.last_beat_at is None else f"last at {last:%Y-%m-%d %H:%M:%S}Z"
            return Outcome(False, started, 0, ErrorKind.NO_HEARTBEAT, f"no heartbeat ({seen})")
        return Outcome(True, started, 0)

    async def _process(self, target: CheckTarget, started: float) -> Outcome:
        if target.app_id is None:
            return _failure(started, ErrorKind.ERROR, "a process monitor without an app")
        items, error = await self.liveness.of_app(target.app_id)
        if items is None:
            # deploy not answering says nothing about the app: an error, not "process down"
            return _failure(started, ErrorKind.ERROR, error or "liveness unknown")
        if not items:
            return _failure(started, ErrorKind.PROCESS_DOWN, "deploy reports no running process")
        dead = [item for item in items if not item.get("alive")]
        if dead:
            first = dead[0]
            reason = first.get("reason") or first.get("state") or "not alive"
            name = first.get("process_type") or "process"
            return _failure(started, ErrorKind.PROCESS_DOWN, f"{name}: {reason}")
        return Outcome(True, started, int((time.time() - started) * 1000))
