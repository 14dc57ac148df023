"""HTTP for the WPS: service checks, Execute submission and status polls with requests.

No QGIS here. Errors come out in kinds the dispatcher can act on: ServiceError (the
run cannot start or go on, e.g. refused credentials), TransientError (asking again may
work) and WpsException (the server refused this request; asking again will not help).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import requests.adapters
import requests.auth

from ..common.connection import ProxyRule, system_ca_bundle
from . import wps
from .wps import JobStatus, WpsException, WpsParseError, WpsVersionError

# The WPS key-value parameters we set ourselves; whatever else the URL carries is kept.
_KVP_KEYS = {"service", "request", "version", "identifier", "acceptversions"}
RETRYABLE_HTTP = frozenset({408, 429, 502, 503, 504})
# Refusals a server or gateway gives before acting on a request; a 502 or 504 may come after
# the WPS took the Execute (the gateway lost its reply), so a POST answered so may have made a job.
REFUSED_UNSEEN = frozenset({408, 429, 503})
# Faults by what requests raises for them: a reply cut off mid-body (a reset while it was on the
# wire) is a ChunkedEncodingError, no ConnectionError, and the server had the request all the same.
_FAULT_NAMES = {requests.exceptions.ChunkedEncodingError: "the reply was cut off (ChunkedEncodingError)",
                requests.exceptions.ContentDecodingError: "the reply could not be decoded (ContentDecodingError)"}
PREFLIGHT_SECONDS = 30.0  # how long start-up checks wait out a gateway's transient faults
_LAST_TRY_SECONDS = 15.0  # what the last preflight request may take beyond that


class ServiceError(Exception):
    """The WPS cannot be used for this run; the message is for the user."""


class CredentialsRefused(ServiceError):
    """The WPS answered 401 or 403 to a submission: every further one would be refused too."""


class TransientError(Exception):
    """A failure that may pass: asking again later can succeed.

    ``unsent`` is True when the server cannot have acted on the request (the
    connection was never made, or it answered ServerBusy / 502 / 503 / 504), so a
    POST may be repeated without risking a duplicate job. ``unreachable`` is True
    when no connection could be made at all (the server or the network may be down);
    a request that was sent and then timed out is not unreachable: the server has it.
    """

    def __init__(self, message: str, unsent: bool = False, retry_after: float | None = None,
                 unreachable: bool = False):
        super().__init__(message)
        self.unsent = unsent
        self.retry_after = retry_after
        self.unreachable = unreachable


def kvp_url(wps_url: str, **params: str) -> str:
    """``wps_url`` with its WPS key-value parameters replaced by ``params``."""
    parts = urlsplit(wps_url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in _KVP_KEYS]
    return urlunsplit(parts._replace(query=urlencode(kept + list(params.items()))))


def url_problem(url: str) -> str:
    """What makes ``url`` unusable as a WPS URL (a phrase to follow the URL), or ''."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http:// or https:// URL"
    if any(character.isspace() for character in url):
        return "has a space in it"
    host_port = parts.netloc.rpartition("@")[2]
    port = host_port.rpartition("]")[2] if host_port.startswith("[") else host_port
    port = port.partition(":")[2]
    if port and not port.isdigit():
        return "has a port '%s' that is not a number" % port
    if port and not 0 < int(port) < 65536:
        return "has a port %s out of range (1-65535)" % port
    try:
        if not parts.hostname:
            return "has no host"
    except ValueError as error:
        return "has a host that cannot be read (%s)" % error
    return ""


def redacted(url: str) -> str:
    """``url`` for messages: no user name, password or query values (they may carry a token)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, query="…" if parts.query else "", fragment=""))


def preflight_delays(budget: float = PREFLIGHT_SECONDS, first: float = 0.5, cap: float = 8.0) -> list[float]:
    """Waits between start-up tries: doubling from ``first``, at most ``cap``, adding up to ``budget``."""
    delays: list[float] = []
    delay = first
    while sum(delays) < budget:
        delays.append(min(delay, budget - sum(delays)))
        delay = min(cap, delay * 2)
    return delays


def host_of(url: str) -> str:
    """``host:port`` of a URL, for messages: never the user name or password it may carry."""
    parts = urlsplit(url)
    host = parts.hostname or url
    return "%s:%d" % (host, parts.port) if parts.port else host


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(
        parts.scheme.lower())


class HostBoundHeaders(requests.auth.AuthBase):
    """Credentials as headers, sent only to the origin they belong to (the WPS), never to the
    status host (DEA's is an S3 bucket) or anywhere a redirect leads."""

    def __init__(self, url: str, headers: dict):
        self.origin = _origin(url)
        self.headers = dict(headers)

    def __call__(self, request):
        if _origin(request.url) == self.origin:
            request.headers.update(self.headers)
        else:
            for name in self.headers:
                request.headers.pop(name, None)
        return request


class _OriginBoundSession(requests.Session):
    """A session that binds its credentials to their origin on every redirect hop too.

    requests copies a request's headers to each redirect and strips only Authorization
    when the host changes, so a token header would follow a redirect anywhere.
    """

    def rebuild_auth(self, prepared_request, response):
        super().rebuild_auth(prepared_request, response)
        if isinstance(self.auth, HostBoundHeaders):
            self.auth(prepared_request)


def _retry_after(reply: requests.Response) -> float | None:
    try:
        return max(0.0, float(reply.headers.get("Retry-After", "")))
    except ValueError:
        return None


class WpsClient:
    """One WPS endpoint. Thread-safe for use from the dispatcher's workers."""

    def __init__(self, wps_url: str, connect_timeout: float = 10.0, read_timeout: float = 60.0,
                 pool_size: int = 10, auth_headers: dict | None = None, proxy: ProxyRule | None = None,
                 ca_bundle: str = "", preflight_seconds: float = PREFLIGHT_SECONDS):
        self.wps_url = wps_url
        self.proxy = proxy
        self.preflight_seconds = preflight_seconds
        # One keep-alive connection per worker and host (the WPS and its status host).
        session = _OriginBoundSession()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # Verification stays on, always; given with every request, as requests lets the
        # environment's REQUESTS_CA_BUNDLE override a session's own setting.
        self.verify = ca_bundle or system_ca_bundle()
        if auth_headers:
            session.auth = HostBoundHeaders(wps_url, auth_headers)
        self.session = session
        self.session.headers.update({"Accept": "text/xml"})
        self.timeout = (connect_timeout, read_timeout)

    def check_process(self, process: str, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Fail before any job is sent if the URL is not a WPS offering a WIT-like ``process``.

        Transient faults (5xx, resets, HTML or truncated replies: a gateway restarting) are
        retried for about ``preflight_seconds`` in all; a definite answer (401, 403, 404, a WPS
        exception, an unknown process) fails at once, and so does ``cancelled()``.
        """
        host = host_of(self.wps_url)
        give_up = time.monotonic() + self.preflight_seconds + _LAST_TRY_SECONDS
        offered = self._read(kvp_url(self.wps_url, service="WPS", request="GetCapabilities"),
                             wps.process_identifiers,
                             "%s did not answer as an OGC WPS 1.0.0 server (GetCapabilities): check the WPS URL"
                             % host, give_up, cancelled)
        if process not in offered:
            raise ServiceError("the WPS at %s does not offer a process '%s' (it offers: %s)"
                               % (host, process, ", ".join(offered) or "none"))
        url = kvp_url(self.wps_url, service="WPS", version="1.0.0", request="DescribeProcess", identifier=process)
        missing = self._read(url, wps.missing_inputs, "the WPS at %s could not describe process '%s'" % (host, process),
                             give_up, cancelled)
        if missing:
            raise ServiceError("process '%s' at %s is not a WIT process: it has no input %s"
                               % (process, host, ", ".join(missing)))

    def _read(self, url: str, parse, context: str, give_up: float, cancelled: Callable[[], bool]):
        """GET ``url`` and ``parse`` it, retrying transient failures with backoff until ``give_up``."""
        host = host_of(url)
        problem = "the WPS at %s did not answer in time" % host
        for delay in [0.0] + preflight_delays(self.preflight_seconds):
            _wait(delay, cancelled)
            left = give_up - time.monotonic()
            if left <= 0:
                break
            try:
                reply = self.session.get(url, timeout=(min(self.timeout[0], left), min(self.timeout[1], left)),
                                         proxies=self._proxies(url), verify=self.verify)
            except requests.exceptions.SSLError as error:
                raise ServiceError("the TLS certificate of %s could not be verified: %s"
                                   % (host, _tls_reason(error))) from None
            except requests.RequestException as error:
                problem = "cannot reach the WPS server at %s: %s" % (host, type(error).__name__)
                continue
            if reply.status_code in (401, 403, 404):
                raise ServiceError("the WPS at %s answered HTTP %d %s" % (host, reply.status_code, reply.reason))
            exception = wps.exception_from(reply.content)
            if exception is not None and not exception.transient:
                raise ServiceError("%s: %s" % (context, exception))
            if reply.status_code >= 500 or reply.status_code in RETRYABLE_HTTP or exception is not None:
                problem = "the WPS at %s answered HTTP %d %s" % (host, reply.status_code, reply.reason)
                continue
            try:
                return parse(reply.content)
            except WpsVersionError as error:
                raise ServiceError("%s: %s" % (context, error)) from None
            except WpsParseError:
                problem = context
        raise ServiceError(problem)

    def submit(self, execute: bytes) -> JobStatus:
        """POST an Execute document; the reply's status carries the job's status location.

        401/403 raise CredentialsRefused (the run cannot go on); 413 is this request's own
        WpsException (the polygon is too large), never retried.
        """
        try:
            reply = self.session.post(self.wps_url, data=execute, timeout=self.timeout,
                                      proxies=self._proxies(self.wps_url), verify=self.verify,
                                      headers={"Content-Type": "text/xml; charset=utf-8"})
        except requests.RequestException as error:
            never_sent = _never_sent(error)
            raise TransientError("submission failed: %s" % _fault(error), unsent=never_sent,
                                 unreachable=never_sent) from None
        if reply.status_code in (401, 403):
            raise CredentialsRefused(
                "the WPS at %s refused the submission (HTTP %d %s): %s" % (
                    host_of(self.wps_url), reply.status_code, reply.reason,
                    "check the credentials in AUTHCFG" if self.session.auth else "it needs credentials: set AUTHCFG"))
        if reply.status_code == 413:
            raise WpsException("FileSizeExceeded", "HTTP 413 %s: the request is too large for the server; simplify "
                               "the polygon" % reply.reason)
        try:
            status = self._status_from(reply, client_errors_final=True)
        except WpsVersionError as error:
            raise WpsException("VersionNegotiationFailed", str(error)) from None
        except WpsParseError as error:
            # Something answered, but not with a WPS document: the job may exist all the same.
            raise TransientError("unreadable reply to the submission: %s" % error) from None
        if not status.finished and not status.status_location:
            raise WpsException("NoStatusLocation", "the server accepted the job without a status location "
                               "(is asynchronous execution supported?)")
        return status

    def poll(self, status_location: str) -> JobStatus:
        """GET a job's status document. Unreadable or missing documents are transient."""
        try:
            reply = self.session.get(status_location, timeout=self.timeout, proxies=self._proxies(status_location),
                                     verify=self.verify)
        except requests.RequestException as error:
            raise TransientError("status poll failed: %s" % _fault(error), unreachable=_never_sent(error)) from None
        if reply.status_code == 404:
            raise TransientError("status document not found (HTTP 404)")
        try:
            return self._status_from(reply)
        except WpsVersionError as error:
            raise WpsException("VersionNegotiationFailed", str(error)) from None
        except WpsParseError as error:
            raise TransientError("unreadable status document: %s" % error) from None

    def _proxies(self, url: str) -> dict | None:
        return self.proxy.proxies_for(url) if self.proxy else None

    def _status_from(self, reply: requests.Response, client_errors_final: bool = False) -> JobStatus:
        """The reply's status; with ``client_errors_final`` (an Execute) a 4xx other than 408 and 429
        that is no WPS exception fails the request for good. A poll's 4xx stays transient: a status
        host such as S3 answers 403 or 404 for a document not written yet."""
        if reply.status_code in RETRYABLE_HTTP:
            raise TransientError("HTTP %d %s" % (reply.status_code, reply.reason),
                                 unsent=reply.status_code in REFUSED_UNSEEN, retry_after=_retry_after(reply))
        if reply.status_code != 200:
            exception = wps.exception_from(reply.content)
            if exception is None and client_errors_final and 400 <= reply.status_code < 500:
                said = _page_text(reply.content)
                raise WpsException("", "the WPS answered HTTP %d %s%s" % (reply.status_code, reply.reason,
                                                                         ": " + said if said else ""))
            if exception is None:
                raise TransientError("HTTP %d %s" % (reply.status_code, reply.reason))
            if exception.transient:
                raise TransientError(str(exception), unsent=True, retry_after=_retry_after(reply))
            raise exception
        try:
            return wps.parse_status(reply.content)
        except WpsException as exception:
            if exception.transient:
                raise TransientError(str(exception), unsent=True) from None
            raise


class PreflightCancelled(ServiceError):
    """The run was cancelled during the start-up checks."""


def _wait(seconds: float, cancelled: Callable[[], bool]) -> None:
    """Sleep ``seconds`` in short steps, so a cancel during start-up takes effect within a moment."""
    end = time.monotonic() + seconds
    while True:
        if cancelled():
            raise PreflightCancelled("cancelled during the start-up checks")
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))


def _tls_reason(error: Exception) -> str:
    """The TLS failure without the request's URL (its query may carry a token)."""
    found = re.search(r"\[SSL: [A-Z_]+\][^'\")]*", str(error))
    return found.group(0).strip() if found else "the TLS handshake failed"


def _fault(error: requests.RequestException) -> str:
    return _FAULT_NAMES.get(type(error), type(error).__name__)


def _never_sent(error: requests.RequestException) -> bool:
    """True when no connection was made (refused, DNS, connect timeout): nothing reached the server."""
    return isinstance(error, requests.exceptions.ConnectTimeout) or (
        isinstance(error, requests.exceptions.ConnectionError) and _never_connected(error))


def _page_text(content: bytes, limit: int = 200) -> str:
    """A reply's words for a message: tags and runs of white space out, at most ``limit`` characters."""
    text = " ".join(re.sub(rb"<[^>]*>", b" ", content[:4096]).decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _never_connected(error: Exception) -> bool:
    """True when the TCP connection was never made (refused, DNS), so nothing reached the server."""
    text = repr(error)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text
