"""Worker processes for the part of each wetland that is Python work: reading its files and measuring.

Threads take turns at Python's lock, so on many wetlands the download workers and the thread that
writes the outputs wait on each other more than they work (docs/benchmarks.md has the figures).
Processes of QGIS's own Python, started with ``spawn`` (never ``fork``: QGIS runs threads), do that
part side by side; every download, with the S3 options, proxy and CA bundle it uses, stays in the
QGIS process. No QGIS here.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

# Fewer wetlands than this are loaded in threads: starting the processes costs about 0.4 s.
MIN_WETLANDS = 500
CLOSE_SECONDS = 10  # at the end of a run, for a process still measuring its last wetland


def interpreter(windowless: bool = False) -> str | None:
    """The Python QGIS embeds, from its prefix; None where none is found. ``sys.executable`` is no
    guide: under QGIS it is whatever ``python3`` comes first on PATH (a pyenv shim, say), or QGIS.
    ``windowless``: on Windows pythonw, so that no console window opens for each worker process."""
    version = "python%d.%d" % sys.version_info[:2]
    if sys.platform == "win32":
        candidates = ("pythonw.exe", "python.exe") if windowless else ("python.exe",)
    else:
        candidates = (os.path.join("bin", version), os.path.join("bin", "python3"))
    for candidate in candidates:
        path = os.path.join(sys.base_prefix, candidate)
        if os.path.isfile(path):
            return path
    return None


def process_count(wetlands: int, downloads: int) -> int:
    """How many worker processes a run of ``wetlands`` gets: one per core, no more than the
    downloads at once; none for a small run, on one core, or without QGIS's Python to start."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if wetlands < MIN_WETLANDS or cores < 2 or interpreter(windowless=True) is None:
        return 0
    return min(cores, downloads)


class WorkerProcesses:
    """``count`` processes that run ``call(function, *arguments)``, each reached through a pipe of its
    own by one thread at a time: no feeder thread whose write to a dead process would hang the run
    (concurrent.futures' process pool before Python 3.12 does). ``spawn``'s interpreter is set for
    the whole QGIS process, to QGIS's own Python, where ``sys.executable`` names another program.
    The first failure of the processes themselves (one killed, a value that does not pickle,
    ``warm_up`` failing) is kept in ``problem`` and the callers do the work themselves from then
    on, so no wetland is lost to it."""

    def __init__(self, count: int, warm_up: Callable[[], Any] | None = None):
        """``warm_up`` is run first in each process and raises where the process cannot do the work."""
        context = multiprocessing.get_context("spawn")  # never fork: QGIS runs threads
        path = interpreter(windowless=True)
        if path is None:
            raise OSError("no Python interpreter beside QGIS (%s)" % sys.base_prefix)
        context.set_executable(path)
        self.done = 0  # calls the processes answered
        self.problem = ""
        self._closed = False
        self._lock = threading.Lock()
        self._idle: queue.Queue = queue.Queue()  # indices of processes waiting for work; None once broken
        self._connections, self._processes = [], []
        try:
            for number in range(count):
                ours, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(theirs, warm_up), name="wit-measure-%d" % number,
                                          daemon=True)  # ended with QGIS, whatever happens
                self._connections.append(ours)
                process.start()
                theirs.close()
                self._processes.append(process)
                self._idle.put(number)
        except Exception:  # those started are ended
            self._connections = self._connections[:len(self._processes)]
            self.close()
            raise

    def call(self, function: Callable, *arguments) -> tuple[bool, Any]:
        """(True, what ``function(*arguments)`` returned in a process), or (False, None) once the
        processes cannot be used; ``function`` must catch its own errors."""
        if self.problem or self._closed:
            return False, None
        number = self._idle.get()
        if number is None:  # broken or closed meanwhile: the next waiting caller learns it too
            self._idle.put(None)
            return False, None
        connection = self._connections[number]
        try:
            connection.send((function, arguments))
            failed, answer = connection.recv()
        except (OSError, EOFError) as error:  # the process is gone
            self._broken("worker process %d ended (%s)" % (self._processes[number].pid, type(error).__name__))
            return False, None
        except Exception as error:  # what it sent or answered would not pickle
            self._end(number)
            self._broken("%s: %s" % (type(error).__name__, error))
            return False, None
        if failed:  # the process is well but cannot do the work: it ends now
            self._end(number)
            self._broken(answer)
            return False, None
        with self._lock:
            self.done += 1
            if self._closed:  # closed while it measured: it ends now
                self._end(number)
            else:
                self._idle.put(number)
        return True, answer

    def _broken(self, problem: str) -> None:
        with self._lock:
            if not self._closed and not self.problem:
                self.problem = problem
        self._idle.put(None)

    def close(self) -> None:
        """Each process ends after its current wetland (one measuring yet is waited for up to
        CLOSE_SECONDS, then ended), so no plot is left half written."""
        with self._lock:
            self._closed = True
            while True:
                try:
                    number = self._idle.get_nowait()
                except queue.Empty:
                    break
                if number is not None:
                    self._end(number)
            self._idle.put(None)  # a caller that passed the check before it closed returns at once
        for process in self._processes:
            process.join(CLOSE_SECONDS)
            if process.is_alive():
                process.terminate()
                process.join()
        for connection in self._connections:
            connection.close()

    def _end(self, number: int) -> None:
        try:
            self._connections[number].send(None)
        except OSError:  # ended already
            pass


def _serve(connection, warm_up: Callable[[], Any] | None) -> None:
    """A worker process: each request answered with (failed, value), until told to end. Ctrl-C,
    which reaches the whole process group, is QGIS's to handle: it ends the run, then the processes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    problem = ""
    if warm_up is not None:
        try:
            warm_up()
        except Exception as error:
            problem = "%s: %s" % (type(error).__name__, error)
    while True:
        try:
            request = connection.recv()
        except EOFError:  # QGIS ended
            return
        except Exception as error:  # a request that does not unpickle here
            connection.send((True, "%s: %s" % (type(error).__name__, error)))
            continue
        if request is None:
            return
        if problem:
            connection.send((True, problem))
            continue
        function, arguments = request
        try:
            connection.send((False, function(*arguments)))
        except Exception as error:
            connection.send((True, "%s: %s" % (type(error).__name__, error)))
