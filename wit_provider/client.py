"""HTTP for the WPS: service checks, Execute submission and status polls with requests.

No QGIS here. Errors come out in three kinds the dispatcher can act on:
ServiceError (the run cannot start), TransientError (asking again may work) and
WpsException (the server refused this request; asking again will not help).
"""

from __future__ import annotations

import os
import ssl
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import requests.adapters
import requests.auth

from . import wps
from .wps import JobStatus, WpsException, WpsParseError

# The WPS key-value parameters we set ourselves; whatever else the URL carries is kept.
_KVP_KEYS = {"service", "request", "version", "identifier", "acceptversions"}
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})


class ServiceError(Exception):
    """The WPS cannot be used for this run; the message is for the user."""


class TransientError(Exception):
    """A failure that may pass: asking again later can succeed.

    ``unsent`` is True when the server cannot have acted on the request (the
    connection was never made, or it answered ServerBusy / 502 / 503 / 504), so a
    POST may be repeated without risking a duplicate job. ``unreachable`` is True
    when no HTTP reply came back at all (the server or the network may be down).
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
        return request


@dataclass(frozen=True)
class ProxyRule:
    """One proxy for every URL except those starting with an excluded prefix (QGIS's rules)."""

    url: str
    excluded: tuple = ()

    def proxies_for(self, url: str) -> dict:
        if any(prefix and url.startswith(prefix) for prefix in self.excluded):
            return {"http": "", "https": ""}  # empty, not None: also overrides proxies from the environment
        return {"http": self.url, "https": self.url}


def system_ca_bundle() -> str | bool:
    """``REQUESTS_CA_BUNDLE`` if set, else the operating system's CA bundle where there is one
    (Debian, Fedora, macOS), else requests' own."""
    for path in (os.environ.get("REQUESTS_CA_BUNDLE"), os.environ.get("CURL_CA_BUNDLE"),
                 ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt",
                 "/etc/pki/tls/certs/ca-bundle.crt"):
        if path and os.path.isfile(path):
            return path
    return True


def _retry_after(reply: requests.Response) -> float | None:
    try:
        return max(0.0, float(reply.headers.get("Retry-After", "")))
    except ValueError:
        return None


class WpsClient:
    """One WPS endpoint. Thread-safe for use from the dispatcher's workers."""

    def __init__(self, wps_url: str, session: requests.Session | None = None,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0, pool_size: int = 10,
                 auth_headers: dict | None = None, proxy: ProxyRule | None = None, ca_bundle: str = ""):
        self.wps_url = wps_url
        self.proxy = proxy
        if session is None:
            # One keep-alive connection per worker and host (the WPS and its status host).
            session = requests.Session()
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

    def check_process(self, process: str) -> None:
        """Fail fast, before any job is sent, if the URL is not a WPS offering a WIT-like ``process``.

        Each request is tried a few times, so one passing fault does not stop a run, and
        still fails within seconds for a URL that is wrong.
        """
        host = host_of(self.wps_url)
        offered = self._read(kvp_url(self.wps_url, service="WPS", request="GetCapabilities"),
                             wps.process_identifiers,
                             "%s did not answer as an OGC WPS 1.0.0 server (GetCapabilities): check the WPS URL"
                             % host)
        if process not in offered:
            raise ServiceError("the WPS at %s does not offer a process '%s' (it offers: %s)"
                               % (host, process, ", ".join(offered) or "none"))
        url = kvp_url(self.wps_url, service="WPS", version="1.0.0", request="DescribeProcess", identifier=process)
        try:
            missing = self._read(url, wps.missing_inputs,
                                 "the WPS at %s could not describe process '%s'" % (host, process))
        except WpsException as error:
            raise ServiceError("the WPS at %s could not describe process '%s': %s" % (host, process, error)) from None
        if missing:
            raise ServiceError("process '%s' at %s is not a WIT process: it has no input %s"
                               % (process, host, ", ".join(missing)))

    def _read(self, url: str, parse, unreadable: str, attempts: int = 4):
        """GET ``url`` and ``parse`` it, retrying transient failures with a short backoff."""
        host = host_of(url)
        for attempt in range(attempts):
            if attempt:
                time.sleep(0.5 * 2 ** (attempt - 1))
            try:
                reply = self.session.get(url, timeout=self.timeout, proxies=self._proxies(url), verify=self.verify)
            except requests.exceptions.SSLError as error:
                raise ServiceError("the TLS certificate of %s could not be verified: %s" % (host, error)) from None
            except requests.RequestException as error:
                problem = "cannot reach the WPS server at %s: %s" % (host, type(error).__name__)
                continue
            if reply.status_code in (401, 403, 404):
                raise ServiceError("the WPS at %s answered HTTP %d %s" % (host, reply.status_code, reply.reason))
            if reply.status_code >= 500 or reply.status_code in RETRYABLE_HTTP:
                problem = "the WPS at %s answered HTTP %d %s" % (host, reply.status_code, reply.reason)
                continue
            try:
                return parse(reply.content)
            except WpsParseError:
                problem = unreadable
        raise ServiceError(problem)

    def submit(self, execute: bytes) -> JobStatus:
        """POST an Execute document; the reply's status carries the job's status location."""
        try:
            reply = self.session.post(self.wps_url, data=execute, timeout=self.timeout,
                                      proxies=self._proxies(self.wps_url), verify=self.verify,
                                      headers={"Content-Type": "text/xml; charset=utf-8"})
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            unsent = isinstance(error, requests.exceptions.ConnectTimeout) or _never_connected(error)
            raise TransientError("submission failed: %s" % type(error).__name__, unsent=unsent,
                                 unreachable=True) from None
        try:
            status = self._status_from(reply)
        except WpsParseError as error:
            # Something answered, but not with a WPS document: the job may exist all the same.
            raise TransientError("unreadable reply to the submission: %s" % error) from None
        if not status.state.finished and not status.status_location:
            raise WpsException("NoStatusLocation", "the server accepted the job without a status location "
                               "(is asynchronous execution supported?)")
        return status

    def poll(self, status_location: str) -> JobStatus:
        """GET a job's status document. Unreadable or missing documents are transient."""
        try:
            reply = self.session.get(status_location, timeout=self.timeout, proxies=self._proxies(status_location),
                                     verify=self.verify)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            raise TransientError("status poll failed: %s" % type(error).__name__, unreachable=True) from None
        if reply.status_code == 404:
            raise TransientError("status document not found (HTTP 404)")
        try:
            return self._status_from(reply)
        except WpsParseError as error:
            raise TransientError("unreadable status document: %s" % error) from None

    def _proxies(self, url: str) -> dict | None:
        return self.proxy.proxies_for(url) if self.proxy else None

    def _status_from(self, reply: requests.Response) -> JobStatus:
        if reply.status_code in RETRYABLE_HTTP:
            raise TransientError("HTTP %d %s" % (reply.status_code, reply.reason), unsent=True,
                                 retry_after=_retry_after(reply))
        if reply.status_code != 200:
            exception = wps.exception_from(reply.content)
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


def _never_connected(error: Exception) -> bool:
    """True when the TCP connection was never made (refused, DNS), so nothing reached the server."""
    text = repr(error)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text
