"""`make test-matrix`: the whole suite on newer QGIS, each in a Debian root kept outside the clone.

Each root is made with debootstrap from Debian's archive (QGIS 3.40 LTR from trixie, QGIS 3.44
from sid) and provisioned (a venv with the test tools, this machine's CA bundle and pip
configuration, on sid Debian's python3-pyarrow and GDAL's Parquet driver built against its GDAL)
in ``<cache>/<name>-<recipe hash>.partial``, and renamed to ``<name>-<recipe hash>`` only when
all of that succeeded: a root under its final name is always whole, and a ``.partial`` one (a
killed run) is made again. Every clone on the machine reuses a root while its recipe is the same;
a new recipe makes a new root and the old ones of that name are removed.

The roots are made and tested side by side, each in a thread of its own: most of either is
waiting (the archive, QGIS start-up, servers, jobs), so the two overlap well on 2 cores. The suite
runs inside with ``chroot``, the checkout bound at its own path, and everything bound is unmounted
on the way out, also when a test fails or the run is stopped. The host's own QGIS stays what
`make test` uses.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .plugin_files import ROOT
from .test_summary import is_closing_line, record, show

CACHE = Path("/var/cache/wit-dispatcher/roots")  # the Makefile's ROOTS
MIRROR = "http://deb.debian.org/debian"
VENV = "/opt/wit-venv"  # inside each root
PARTIAL = ".partial"  # a root being made; renamed away when it is whole
PACKAGES = ("qgis", "python3-qgis", "qgis-providers", "python3-pip", "python3-venv", "python3-matplotlib",
            "python3-scipy", "xvfb", "openssl", "poppler-utils", "ca-certificates", "make", "locales")
# This machine's pip configuration (site-wide and the user's), copied in; the local folders it names
# are bound in, and pip's environment variables passed through.
PIP_FILES = ("/etc/pip.conf", "/etc/xdg/pip", str(Path.home() / ".config/pip/pip.conf"))
GDAL_BUILD = ("libgdal-dev", "libparquet-dev", "libarrow-dev", "libarrow-dataset-dev", "cmake", "g++", "xz-utils",
              "curl")
_RUNNING: set[subprocess.Popen] = set()  # what a stop must end
_STOPPING = threading.Event()


@dataclass(frozen=True)
class Target:
    name: str
    suite: str
    qgis: str
    debian_python: tuple  # (PyPI name, Debian package) taken from Debian instead of PyPI's pin
    parquet_driver: bool  # build GDAL's Parquet driver against the root's GDAL

    def apt(self) -> list[str]:
        """apt-get in the root; sid's Release file is past its validity date in the archive reached here."""
        return ["apt-get", "-o", "Acquire::Check-Valid-Until=false", "-y", "-q", "--no-install-recommends"]


# sid's Python is 3.14, for which pandas 2.2.3 has no wheel; its own pyarrow is the one the issue names.
TARGETS = (Target("trixie", "trixie", "3.40", debian_python=(), parquet_driver=False),
           Target("sid", "sid", "3.44", debian_python=(("pyarrow", "python3-pyarrow"), ("pandas", "python3-pandas")),
                  parquet_driver=True))


class Root:
    """One target's root in the cache: where it is, how it is made, how it is entered."""

    def __init__(self, target: Target, cache: Path, log):
        self.target = target
        self.cache = cache
        self.path = cache / ("%s-%s" % (target.name, recipe_hash(target)))
        self.partial = self.path.with_name(self.path.name + PARTIAL)
        self.log = log  # a line-writing function: the run's output, prefixed with the target's name

    def run(self, command: list[str], output: Path | None = None, env: dict | None = None, on_line=None) -> int:
        """``command`` on the host (stoppable), into ``output`` or line by line to ``on_line`` (the log
        by default); its exit code."""
        if _STOPPING.is_set():
            return 143
        self.log("$ " + " ".join(command))
        with open(output, "ab") if output else contextlib.nullcontext() as sink:
            process = subprocess.Popen(command, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                                       stdout=sink or subprocess.PIPE, stderr=subprocess.STDOUT)
            _RUNNING.add(process)
            if _STOPPING.is_set():  # a stop that came while it started
                _end(process)
            try:
                if sink is None:
                    for line in process.stdout:
                        (on_line or self.log)(line.decode(errors="replace").rstrip("\n"))
                return process.wait()
            finally:
                _RUNNING.discard(process)

    def inside(self, root: Path, script: str, output: Path | None = None, env: dict | None = None,
               on_line=None) -> int:
        """``script`` with bash in ``root``; its exit code."""
        pip = {name: value for name, value in os.environ.items() if name.startswith("PIP_")}
        environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                       "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "TMPDIR": "/tmp", **pip, **(env or {})}
        return self.run(["chroot", str(root), "/bin/bash", "-c", script], output, environment, on_line)

    def check_inside(self, root: Path, script: str, output: Path) -> None:
        if self.inside(root, script, output) != 0:
            raise RootFailed("%s failed: %s (its output: %s)\n%s"
                             % (self.target.name, script, output, tail(output)))

    def ensure(self) -> None:
        """Make and provision the root unless it is there, whole, under its final name."""
        if self.path.is_dir():
            self.log("reusing %s" % self.path)
            return
        self.remove(self.partial)  # what a stopped run left half made
        output = self.cache / ("%s.log" % self.path.name)
        output.write_bytes(b"")
        self.log("making %s (output in %s)" % (self.path, output))
        began = time.monotonic()
        command = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), self.target.suite,
                   str(self.partial), MIRROR]
        if self.run(command, output) != 0:
            raise RootFailed("debootstrap failed for %s (its output: %s)\n%s" % (self.target.name, output,
                                                                                 tail(output)))
        provision(self, output)
        self.partial.rename(self.path)
        self.log("made %s in %d s" % (self.path, time.monotonic() - began))

    def remove_others(self) -> None:
        """The roots of this target made from other recipes, and what stopped runs left half made."""
        for other in self.cache.glob(self.target.name + "-*"):
            if other.is_dir() and other != self.path and re.fullmatch(r"%s-[0-9a-f]{16}(%s)?" % (
                    self.target.name, re.escape(PARTIAL)), other.name):
                self.log("removing %s (another recipe)" % other)
                self.remove(other)
                other.with_name(other.name.removesuffix(PARTIAL) + ".log").unlink(missing_ok=True)

    def remove(self, root: Path) -> None:
        """Delete ``root`` once nothing is bound under it: never through a bind into the host."""
        if not root.exists():
            return
        unmount_under(root)
        if _under(root):
            raise RootFailed("%s is still mounted somewhere; not removed" % root)
        shutil.rmtree(root)

    @contextlib.contextmanager
    def mounted(self, root: Path, with_checkout: bool):
        """/proc, /dev, pip's local folders (and the checkout) bound into ``root``, unmounted on exit."""
        binds = [Path("/proc"), Path("/dev"), Path("/dev/pts"), Path("/dev/shm"), Path("/sys")]
        binds += [Path(p) for p in _pip_folders() if Path(p).is_dir()]
        binds += [ROOT] if with_checkout else []
        done = []
        try:
            for source in binds:
                where = root / str(source).lstrip("/")
                where.mkdir(parents=True, exist_ok=True)
                subprocess.run(["mount", "--bind", str(source), str(where)], check=True)
                done.append(where)
            yield
        finally:
            for where in reversed(done):
                unmount(str(where))

    def test(self, pytest_args: str, workers: str, on_line) -> int:
        """The suite inside the root, its output line by line to ``on_line``; pytest's exit code."""
        with self.mounted(self.path, with_checkout=True):
            return self.inside(self.path, "cd '%s' && %s/bin/python -m pytest -p no:cacheprovider -n %s "
                               "--maxschedchunk=1 %s" % (ROOT, VENV, workers, pytest_args),
                               env={"WIT_MATRIX": self.target.name, **_passed_on()}, on_line=on_line)


def _passed_on() -> dict[str, str]:
    """The suite's own settings from the caller's environment (``make test-matrix FAULT_RUNS=20``)."""
    return {name: os.environ[name] for name in ("WIT_FAULT_RUNS",) if name in os.environ}


class RootFailed(Exception):
    pass


def provision(root: Root, output: Path) -> None:
    """The bootstrapped root made ready: CA bundle, apt sources, packages, the Parquet driver, the venv."""
    target, partial = root.target, root.partial
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/resolv.conf", *PIP_FILES):
        if os.path.exists(path):
            destination = partial / path.lstrip("/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            if os.path.isdir(path):
                shutil.copytree(path, destination, dirs_exist_ok=True)
            else:
                shutil.copy2(path, destination)
    (partial / "etc/apt/sources.list").write_text("deb %s %s main\n" % (MIRROR, target.suite))
    with root.mounted(partial, with_checkout=False):
        apt = " ".join(target.apt())
        packages = PACKAGES + tuple(package for _, package in target.debian_python)
        root.check_inside(partial, "%s update && %s install %s" % (apt, apt, " ".join(packages)), output)
        if target.parquet_driver:
            root.check_inside(partial, "%s install %s" % (apt, " ".join(GDAL_BUILD)), output)
            root.check_inside(partial, PARQUET_DRIVER_SCRIPT, output)
        root.check_inside(partial, "python3 -m venv --system-site-packages %s && %s/bin/python -m pip install -q "
                          "--disable-pip-version-check %s" % (VENV, VENV, " ".join(
                              "'%s'" % r for r in requirements(target))), output)


_PROVISIONING = inspect.getsource(provision)  # part of the recipe

# GDAL's Parquet driver as a plugin, from Debian's GDAL source, against the root's GDAL.
PARQUET_DRIVER_SCRIPT = (
    "set -e; version=$(dpkg-query -W -f='${Version}' libgdal-dev | sed 's/-[^-]*$//; s/^[0-9]*://'); "
    "upstream=${version%%+dfsg*}; mkdir -p /opt/gdal-src && cd /opt/gdal-src; "
    "curl -sSfLO " + MIRROR + "/pool/main/g/gdal/gdal_${version}.orig.tar.xz; "
    "tar xf gdal_${version}.orig.tar.xz; cd gdal-${upstream}; "
    "cmake -S ogr/ogrsf_frmts/parquet -B build -DCMAKE_BUILD_TYPE=Release > /dev/null; "
    "cmake --build build -j2 > /dev/null; "
    "plugins=$(dirname $(dpkg -L libgdal-dev | grep 'libgdal.so$' | head -1))/gdalplugins; mkdir -p $plugins; "
    "cp build/ogr_Parquet.so $plugins/; "
    "python3 -c \"from osgeo import gdal; assert gdal.GetDriverByName('Parquet'), 'no Parquet driver'\"")


def requirements(target: Target) -> list[str]:
    """requirements-dev.txt less what the target takes from Debian."""
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()]
    from_debian = {name for name, _ in target.debian_python}
    return [r for r in lines if r and re.match(r"[A-Za-z0-9_.-]+", r).group(0) not in from_debian]


def recipe_hash(target: Target) -> str:
    """What a root is made from: the target, the packages, the requirements and the provisioning code.
    Editing how roots are run or reported changes nothing here, so it keeps the roots made."""
    recipe = repr((target, PACKAGES, GDAL_BUILD, MIRROR, VENV, requirements(target), PARQUET_DRIVER_SCRIPT,
                   _PROVISIONING))
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def tail(path: Path, size: int = 4000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as mounts:
        return [line.split()[4].replace("\\040", " ") for line in mounts]


def _under(folder: Path) -> list[str]:
    """The mount points at or under ``folder``, compared as the kernel spells them (real paths)."""
    real = os.path.realpath(folder)
    return [p for p in _mount_points() if p == real or p.startswith(real + "/")]


def unmount_under(folder: Path) -> None:
    """Unmount what a stopped run left bound under ``folder`` (deepest first), so nothing is bound twice
    and deleting a root cannot reach the host's /dev or the checkout."""
    for point in sorted(_under(folder), key=len, reverse=True):
        unmount(point)


def unmount(point: str) -> None:
    """Unmount, lazily if it is busy (a process still inside): detached at once either way."""
    if subprocess.run(["umount", point]).returncode != 0:
        subprocess.run(["umount", "-l", point])


def _pip_folders() -> list[str]:
    """The local folders the machine's pip configuration names (find-links, file:// indexes)."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    folders = []
    for line in listed.splitlines():
        _, _, value = line.partition("=")
        for word in value.strip("'\"").split():
            path = word[len("file://"):] if word.startswith("file://") else word
            if path.startswith("/") and not path.startswith(("/etc", "/usr")):
                folders.append(path.split("/simple")[0] if "/simple" in path else path)
    return sorted(set(folders))


@contextlib.contextmanager
def locked(cache: Path, target: Target):
    """The target's lock in the cache: one run at a time makes, tests in or removes its roots, so a
    second clone waits instead of deleting a root in use."""
    with open(cache / ("%s.lock" % target.name), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass
class Outcome:
    target: Target
    code: int = 1
    seconds: float = 0.0
    closing: str = ""  # pytest's closing line
    error: str = ""


def run_target(root: Root, args, outcome: Outcome) -> None:
    """Make the root if needed, then test in it; what happened goes into ``outcome``."""
    began = time.monotonic()
    try:
        with locked(root.cache, root.target):
            unmount_under(root.path)  # what a stopped run left bound (this run holds the lock)
            root.ensure()
            root.remove_others()
            if args.prepare_only:
                outcome.code = 0
                return
            root.log("testing on QGIS %s" % root.target.qgis)
            tested = time.monotonic()

            def on_line(line: str) -> None:
                if is_closing_line(line):
                    outcome.closing = line
                root.log(line)

            outcome.code = root.test(args.pytest, args.workers, on_line)
            outcome.seconds = time.monotonic() - tested
    except Exception as error:  # whatever it was, the summary names it
        outcome.error = str(error) if isinstance(error, RootFailed) else "%s: %s" % (type(error).__name__, error)
        root.log(outcome.error)
    root.log("done in %d s" % (time.monotonic() - began))


def remove_all(cache: Path, targets: list[Target]) -> int:
    """Every root of these targets, each under its lock (never one in use), unmounted first."""
    for target in targets:
        with locked(cache, target):
            root = Root(target, cache, print)
            for folder in cache.glob(target.name + "-*"):
                print("removing", folder)
                if folder.is_dir():
                    root.remove(folder)
                else:
                    folder.unlink()
    return 0


def _stop(*_) -> None:
    """A kill or a closed terminal: end what runs, so the threads unmount and return."""
    _STOPPING.set()
    for process in list(_RUNNING):
        _end(process)


def _end(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)


def main() -> int:
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        signal.signal(getattr(signal, name), _stop)
    parser = argparse.ArgumentParser(description=__doc__)
    names = [t.name for t in TARGETS]
    parser.add_argument("targets", nargs="*", default=names, help="some of: %s" % " ".join(names))
    parser.add_argument("--pytest", default="", help="arguments for pytest in each root")
    parser.add_argument("--workers", default="3", help="pytest-xdist workers in each root")
    parser.add_argument("--roots", type=Path, default=CACHE, help="where the roots are kept (%(default)s)")
    parser.add_argument("--one-at-a-time", action="store_true", help="the roots one after the other")
    parser.add_argument("--prepare-only", action="store_true", help="make the roots, test nothing")
    parser.add_argument("--remove", action="store_true", help="remove the roots (make clean-roots)")
    parser.add_argument("--summary", type=Path, default=ROOT / "build" / "matrix-summary.json",
                        help="what each root passed, as JSON (%(default)s)")
    args = parser.parse_args()
    unknown = sorted(set(args.targets) - set(names))
    if unknown:  # MATRIX=trixe must not pass by running nothing
        parser.error("no matrix target %s (there are: %s)" % (", ".join(unknown), ", ".join(names)))
    if os.geteuid() != 0:
        raise SystemExit("make test-matrix needs root: debootstrap, mount and chroot")
    args.roots = args.roots.resolve()  # mount points are compared as the kernel spells them
    args.roots.mkdir(parents=True, exist_ok=True)
    if args.remove:
        return remove_all(args.roots, [t for t in TARGETS if t.name in args.targets])
    printing = threading.Lock()

    def logger(name: str):
        def log(line: str) -> None:
            with printing:
                print("[%s] %s" % (name, line), flush=True)
        return log

    chosen = [t for t in TARGETS if t.name in args.targets]
    outcomes = [Outcome(t) for t in chosen]
    threads = [threading.Thread(target=run_target, args=(Root(o.target, args.roots, logger(o.target.name)), args, o))
               for o in outcomes]
    for thread in threads:
        thread.start()
        while args.one_at_a_time and thread.is_alive():  # joined in steps: signals reach the main thread
            thread.join(0.5)
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)
    failed = [o.target.name for o in outcomes if o.code != 0]
    if failed:
        print("test-matrix failed on: %s" % ", ".join(failed), flush=True)
    if not args.prepare_only:
        args.summary.unlink(missing_ok=True)
        for outcome in outcomes:
            record(args.summary, "QGIS %s (%s)" % (outcome.target.qgis, outcome.target.name), outcome.closing,
                   outcome.seconds, outcome.error)
        print(show([args.summary]), flush=True)  # pytest's closing lines last
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
