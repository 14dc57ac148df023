"""How both halves reach servers: the proxy QGIS is set to use and the CA bundle TLS is verified with.

The WPS client and the result fetcher take the same rule and the same default bundle, so a
proxy or a CA set once in QGIS applies to submissions, polls and result downloads alike.
No QGIS here: qgis_bridge/network.py turns QGIS's settings into a ProxyRule.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass


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
