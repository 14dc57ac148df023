"""Result locations → bytes: ``s3://`` through GDAL's /vsis3/, ``https://`` through requests, local paths.

GDAL is the S3 client because QGIS ships it: it already finds credentials the way AWS users
keep them (environment, ``~/.aws`` profiles, instance roles), so the plugin needs no SDK.
Options we set are scoped to each bucket with ``gdal.SetPathSpecificOption``, never
process-wide, and cleared when the run ends (``close``), so other layers in the same QGIS,
and later runs, keep their own S3 settings. GDAL's cache of that bucket (which remembers
"no such file" too) is cleared when a run first reads it. No QGIS here.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from osgeo import gdal

from ..common.connection import ProxyRule, system_ca_bundle

CHUNK = 1 << 20
HTTP_TIMEOUT = (10, 60)
_HTTP_CODE = re.compile(r"HTTP response code on \S+: (\d+)")
CREDENTIALS_HINT = ("set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment "
                    "(S3_UNSIGNED for a public bucket)")


class FetchError(Exception):
    """A location cannot be read; the message is the reason shown for that polygon."""


def parse_locations(value) -> list[str]:
    """One location, or a JSON array of them in time order; empty or NULL gives none."""
    if value is None:
        return []
    text = str(value).strip()
    if not text or text.upper() == "NULL":
        return []
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as error:
            raise FetchError("the location is not a valid JSON array: %s" % error) from None
        if not all(isinstance(item, str) for item in items):
            raise FetchError("the JSON array of locations must hold strings only")
        return [item.strip() for item in items if item.strip()]
    return [text]


@dataclass(frozen=True)
class S3Settings:
    """How to reach S3: an endpoint URL for S3-compatible stores (path-style), a profile, unsigned access."""

    endpoint: str = ""
    profile: str = ""
    unsigned: bool = False

    def options(self) -> dict:
        """GDAL configuration options for one bucket."""
        options = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_TIMEOUT": "60",
                   "GDAL_HTTP_MAX_RETRY": "3", "GDAL_HTTP_RETRY_DELAY": "1"}
        if self.endpoint:
            parts = urlsplit(self.endpoint)
            options.update(AWS_S3_ENDPOINT=parts.netloc, AWS_HTTPS="YES" if parts.scheme == "https" else "NO",
                           AWS_VIRTUAL_HOSTING="FALSE")
        if self.profile:
            options["AWS_PROFILE"] = self.profile
        if self.unsigned:
            options["AWS_NO_SIGN_REQUEST"] = "YES"
        return options


def check_endpoint(endpoint: str) -> str:
    """The endpoint as given, or a message saying what is wrong with it."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError("S3_ENDPOINT '%s' must be an http:// or https:// URL with a host and no path, "
                         "e.g. http://127.0.0.1:9000" % endpoint)
    return endpoint


class Fetcher:
    """Reads whole result files; safe to call from several worker threads at once."""

    def __init__(self, s3: S3Settings | None = None, ca_bundle: str = "", proxy: ProxyRule | None = None):
        self.s3 = s3 or S3Settings()
        # Verification stays on: no CA bundle in the settings ('') means the system's, as for the WPS.
        self.verify = ca_bundle or system_ca_bundle()
        self.proxy = proxy
        self._buckets: set[str] = set()
        self._lock = threading.Lock()
        self._local = threading.local()

    def fetch(self, location: str) -> bytes:
        scheme = urlsplit(location).scheme.lower()
        if scheme == "s3":
            return self._s3(location)
        if scheme in ("http", "https"):
            return self._http(location)
        if scheme == "file":
            return self._file(urlsplit(location).path)
        if scheme and len(scheme) > 1:
            raise FetchError("unsupported location scheme '%s:' (use s3://, https:// or a file path)" % scheme)
        return self._file(location)

    def _s3(self, location: str) -> bytes:
        parts = urlsplit(location)
        bucket, key = parts.netloc, parts.path.lstrip("/")
        if not bucket or not key:
            raise FetchError("'%s' is not an s3://bucket/key location" % location)
        self._configure(bucket)
        path = "/vsis3/%s/%s" % (bucket, key)
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            gdal.ErrorReset()
            stat = gdal.VSIStatL(path, gdal.VSI_STAT_EXISTS_FLAG | gdal.VSI_STAT_SIZE_FLAG)
            if stat is None:
                raise FetchError(_s3_reason(gdal.GetLastErrorMsg(), location, self.s3))
            handle = gdal.VSIFOpenL(path, "rb")
            if handle is None:
                raise FetchError(_s3_reason(gdal.GetLastErrorMsg(), location, self.s3))
            try:
                data = _read_all(handle, stat.size)
            finally:
                gdal.VSIFCloseL(handle)
        except RuntimeError as error:  # when the application turned on gdal.UseExceptions()
            raise FetchError(_s3_reason(str(error), location, self.s3)) from None
        finally:
            gdal.PopErrorHandler()
        if len(data) != stat.size:
            raise FetchError("read %d of %d bytes from %s" % (len(data), stat.size, location))
        return data

    def _configure(self, bucket: str) -> None:
        with self._lock:
            if bucket in self._buckets:
                return
            prefix = "/vsis3/%s/" % bucket
            for name, value in self.s3.options().items():
                gdal.SetPathSpecificOption(prefix, name, value)
            # Results written, or credentials fixed, since GDAL last looked: forget what it cached
            # (after the options, which say which endpoint the cache is of).
            gdal.VSICurlPartialClearCache(prefix)
            self._buckets.add(bucket)

    def close(self) -> None:
        """Remove this run's options, so neither later runs nor other layers inherit them."""
        with self._lock:
            for bucket in self._buckets:
                gdal.ClearPathSpecificOptions("/vsis3/%s/" % bucket)
            self._buckets.clear()

    def _http(self, location: str) -> bytes:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        try:
            proxies = self.proxy.proxies_for(location) if self.proxy else None
            reply = session.get(location, timeout=HTTP_TIMEOUT, verify=self.verify, proxies=proxies)
        except requests.exceptions.SSLError:
            raise FetchError("TLS certificate of %s not trusted" % urlsplit(location).netloc) from None
        except requests.RequestException as error:
            raise FetchError("cannot reach %s: %s" % (urlsplit(location).netloc, type(error).__name__)) from None
        if reply.status_code != 200:
            hint = ": the server needs credentials" if reply.status_code in (401, 403) else ""
            raise FetchError("%d %s%s (%s)" % (reply.status_code, reply.reason, hint, _public(location)))
        return reply.content

    @staticmethod
    def _file(path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            raise FetchError("no file %s" % path) from None
        except OSError as error:
            raise FetchError("cannot read %s: %s" % (path, error.strerror)) from None


def _read_all(handle, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = gdal.VSIFReadL(1, min(CHUNK, remaining), handle)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _s3_reason(message: str, location: str, s3: S3Settings) -> str:
    """A reason a user can act on, from GDAL's message (which may quote the request, never keys)."""
    found = _HTTP_CODE.search(message or "")
    code = int(found.group(1)) if found else None
    if code is None and not message:
        return "404 Not Found: no object at %s" % location
    if code == 404:
        return "404 Not Found: no object or bucket at %s" % location
    if code in (401, 403):
        return "403 Forbidden: the bucket needs credentials; %s" % CREDENTIALS_HINT
    if code == 0:
        where = s3.endpoint or "AWS S3"
        return "cannot connect to %s for %s" % (where, location)
    if code is not None:
        return "HTTP %d from S3 for %s" % (code, location)
    if "credentials" in message.lower() or "AWS_SECRET_ACCESS_KEY" in message:
        return "no AWS credentials found; %s" % CREDENTIALS_HINT
    return "cannot read %s: %s" % (location, message.splitlines()[0][:200])


def _public(url: str) -> str:
    """The URL without user info or query (a presigned query string is a credential)."""
    parts = urlsplit(url)
    return "%s://%s%s" % (parts.scheme, parts.hostname or "", (":%d" % parts.port) if parts.port else "") + parts.path
