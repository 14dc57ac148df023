"""A fault-injecting HTTP proxy on 127.0.0.1 between the plugin and a WIT server.

Seeded, so a failing run can be replayed. Each request is, at ``rate``, answered
with one fault instead of (or after) forwarding it: 502, 503, a connection reset
before or after the server saw the request, the reply's head and half its body
then a reset ("cut"), the whole reply then a reset at once (which discards what is
still unsent: a cut reply or none, as timing falls), a 200 HTML page, 200 with
random bytes, truncated XML, or a slow reply. ``script`` lists faults for the first requests, in order, before the
seeded draw takes over. The upstream's address in replies (status locations) is
rewritten to the proxy's, so polls go through it too. Each request's headers are
kept in ``headers_seen``; only Content-Type and Accept are forwarded upstream.
"""

from __future__ import annotations

import collections
import http.server
import random
import socket
import struct
import threading
import time

import requests
from stub_server import QuietHandler

FAULTS = ("502", "503", "reset_before", "reset_after", "cut", "reply_reset", "html", "garbage", "truncated", "slow")
_HTML = b"<html><head><title>Gateway</title></head><body>Please wait</body></html>"


class FaultProxy:
    def __init__(self, upstream: str, rate: float = 0.2, seed: int = 1, faults=FAULTS, slow_seconds: float = 1.5,
                 script=(), host: str = "127.0.0.1"):
        self.upstream = upstream.rstrip("/")
        self.script = list(script)
        self.headers_seen: list[dict] = []
        self.rate = rate
        self.faults = faults
        self.slow_seconds = slow_seconds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: collections.Counter = collections.Counter()
        self.requests: collections.Counter = collections.Counter()
        self.server = http.server.ThreadingHTTPServer((host, 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = "http://%s:%d" % (host, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, upstream_url: str) -> str:
        return upstream_url.replace(self.upstream, self.base_url)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def garbage(self) -> bytes:
        """Up to 512 random bytes, from the seeded draw."""
        with self.lock:
            return bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 512)))

    def _choose(self, method: str, headers) -> str | None:
        with self.lock:
            self.requests[method] += 1
            self.headers_seen.append(dict(headers))
            if self.script:
                fault = self.script.pop(0)
                if fault:
                    self.injected["%s %s" % (method, fault)] += 1
                return fault
            if self.rng.random() >= self.rate:
                return None
            fault = self.rng.choice(self.faults)
            self.injected["%s %s" % (method, fault)] += 1
            return fault

    def _forward(self, method: str, path: str, body: bytes, headers) -> requests.Response:
        forwarded = {k: v for k, v in headers.items() if k.lower() in ("content-type", "accept")}
        target = path if path.startswith("http://") else self.upstream + path  # a forward proxy gets full URLs
        return requests.request(method, target, data=body or None, headers=forwarded, timeout=60,
                                proxies={"http": "", "https": ""})

    def _handler(self):
        proxy = self

        class Handler(QuietHandler):
            def _answer(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._choose(method, self.headers)
                if fault in ("502", "503"):
                    return self._reply(int(fault), _HTML, "text/html")
                if fault == "html":
                    return self._reply(200, _HTML, "text/html")
                if fault == "garbage":
                    return self._reply(200, proxy.garbage(), "application/octet-stream")
                if fault == "reset_before":
                    return self._reset()
                if fault == "slow":
                    time.sleep(proxy.slow_seconds)
                reply = proxy._forward(method, self.path, body, self.headers)
                content = reply.content.replace(proxy.upstream.encode(), proxy.base_url.encode())
                if fault == "reset_after":
                    return self._reset()
                if fault == "cut":  # the reply's head and part of its body, then a reset
                    self.send_response(reply.status_code)
                    self.send_header("Content-Type", reply.headers.get("Content-Type", "text/xml"))
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content[: len(content) // 2])
                    self.wfile.flush()
                    return self._reset()
                if fault == "reply_reset":  # the whole reply written, then a reset at once
                    self._reply(reply.status_code, content, reply.headers.get("Content-Type", "text/xml"))
                    self.wfile.flush()
                    return self._reset()
                if fault == "truncated":
                    content = content[: len(content) // 2]
                self._reply(reply.status_code, content, reply.headers.get("Content-Type", "text/xml"))

            def _reply(self, status, content, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _reset(self):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

        return Handler
