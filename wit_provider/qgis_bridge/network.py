"""QGIS's network settings as plain data for the client: the proxy, credentials, the CA bundle.

Read on the thread that runs the algorithm, before any worker starts; the workers only
see the resulting strings.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsNetworkAccessManager, QgsSettings
from qgis.PyQt.QtNetwork import QNetworkProxy

from ..common.connection import ProxyRule

CA_BUNDLE_SETTING = "wit_dispatcher/ca_bundle"
_PROXY_SCHEMES = {QNetworkProxy.ProxyType.HttpProxy: "http", QNetworkProxy.ProxyType.HttpCachingProxy: "http",
                  QNetworkProxy.ProxyType.Socks5Proxy: "socks5h"}


class AuthError(ValueError):
    """The authentication configuration cannot be used; the message is for the user."""


def proxy_rule() -> ProxyRule | None:
    """The proxy from Settings → Options → Network, with its exclusions; None for no proxy or
    the system's (which requests finds in the environment itself)."""
    manager = QgsNetworkAccessManager.instance()
    if manager.useSystemProxy():
        return None
    proxy = manager.fallbackProxy()
    scheme = _PROXY_SCHEMES.get(proxy.type())
    if scheme is None or not proxy.hostName():
        return None
    credentials = ""
    if proxy.user():
        credentials = "%s:%s@" % (quote(proxy.user(), safe=""), quote(proxy.password(), safe=""))
    url = "%s://%s%s:%d" % (scheme, credentials, proxy.hostName(), proxy.port())
    excluded = tuple(p for p in list(manager.excludeList()) + list(manager.noProxyList()) if p)
    return ProxyRule(url, excluded)


def auth_headers(authcfg: str) -> dict:
    """The HTTP headers a QGIS authentication configuration stands for (Basic or header-based)."""
    if not authcfg:
        return {}
    manager = QgsApplication.authManager()
    config = QgsAuthMethodConfig()
    if not manager.loadAuthenticationConfig(authcfg, config, True) or not config.isValid(True):
        raise AuthError("authentication configuration '%s' was not found or could not be decrypted "
                        "(is the master password set?)" % authcfg)
    method = config.method()
    if method == "Basic":
        token = "%s:%s" % (config.config("username"), config.config("password"))
        return {"Authorization": "Basic " + base64.b64encode(token.encode("utf-8")).decode("ascii")}
    if method == "EsriToken":
        return {"X-Esri-Authorization": "Bearer " + config.config("token")}
    if method == "APIHeader":
        return {key: str(value) for key, value in config.configMap().items()}
    raise AuthError("authentication configuration '%s' uses the %s method; Dispatch WIT supports Basic and "
                    "header-based (API header, Esri token) configurations" % (config.name(), method))


def ca_bundle() -> str:
    """A custom CA bundle path from the settings (``wit_dispatcher/ca_bundle``), else ''."""
    return str(QgsSettings().value(CA_BUNDLE_SETTING, "") or "")
