"""`make test-matrix`: the whole suite on newer QGIS, each in a Debian root under build/roots.

Each root is made with debootstrap from Debian's archive (QGIS 3.40 LTR from trixie, QGIS 3.44
from sid), provisioned once (a venv with the test tools, this machine's CA bundle and pip
configuration, on sid Debian's python3-pyarrow and GDAL's Parquet driver built against its GDAL)
and reused while its stamp file is there. The suite runs inside with ``chroot``, the checkout and
the temporary folder bound at the same paths, and everything bound is unmounted on the way out,
also when a test fails. The host's own QGIS stays what `make test` uses.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .plugin_files import ROOT

ROOTS = ROOT / "build" / "roots"
MIRROR = "http://deb.debian.org/debian"
VENV = "/opt/wit-venv"  # inside each root
BOOTSTRAPPED = ".wit-bootstrapped"  # debootstrap finished
STAMP = ".wit-ready"  # provisioned too
PACKAGES = ("qgis", "python3-qgis", "qgis-providers", "python3-pip", "python3-venv", "python3-matplotlib", "xvfb",
            "xauth", "openssl", "ca-certificates", "make", "locales")
# This machine's pip configuration (site-wide and the user's), copied in; the local folders it names
# are bound in, and pip's environment variables passed through.
PIP_FILES = ("/etc/pip.conf", "/etc/xdg/pip", str(Path.home() / ".config/pip/pip.conf"))
GDAL_BUILD = ("libgdal-dev", "libparquet-dev", "libarrow-dev", "libarrow-dataset-dev", "cmake", "g++", "xz-utils",
              "curl")


@dataclass(frozen=True)
class Target:
    name: str
    suite: str
    qgis: str
    debian_python: tuple  # (PyPI name, Debian package) taken from Debian instead of PyPI's pin
    parquet_driver: bool  # build GDAL's Parquet driver against the root's GDAL

    @property
    def root(self) -> Path:
        return ROOTS / self.name

    def apt(self) -> list[str]:
        """apt-get in the root; sid's Release file is past its validity date in the archive reached here."""
        return ["apt-get", "-o", "Acquire::Check-Valid-Until=false", "-y", "-q", "--no-install-recommends"]


# sid's Python is 3.14, for which pandas 2.2.3 has no wheel; its own pyarrow is the one the issue names.
TARGETS = (Target("trixie", "trixie", "3.40", debian_python=(), parquet_driver=False),
           Target("sid", "sid", "3.44", debian_python=(("pyarrow", "python3-pyarrow"), ("pandas", "python3-pandas")),
                  parquet_driver=True))


def run(command: list[str], **options) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, **options)


def inside(target: Target, script: str, env: dict | None = None) -> int:
    """``script`` with bash in the root; its exit code."""
    pip = {name: value for name, value in os.environ.items() if name.startswith("PIP_")}
    environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                   "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "TMPDIR": "/tmp", **pip, **(env or {})}
    print("[%s] $ %s" % (target.name, script), flush=True)
    return subprocess.run(["chroot", str(target.root), "/bin/bash", "-c", script], env=environment).returncode


def check_inside(target: Target, script: str, env: dict | None = None) -> None:
    if inside(target, script, env) != 0:
        raise SystemExit("[%s] failed: %s" % (target.name, script))


@contextlib.contextmanager
def mounted(target: Target):
    """/proc, /dev, the checkout, /tmp and pip's local folders bound into the root, unmounted on exit."""
    binds = [Path("/proc"), Path("/dev"), Path("/dev/pts"), Path("/dev/shm"), Path("/sys"), ROOT, Path("/tmp")]
    binds += [Path(p) for p in _pip_folders() if Path(p).is_dir()]
    done = []
    try:
        for source in binds:
            where = target.root / str(source).lstrip("/")
            where.mkdir(parents=True, exist_ok=True)
            run(["mount", "--bind", str(source), str(where)])
            done.append(where)
        yield
    finally:
        for where in reversed(done):
            if subprocess.run(["umount", str(where)]).returncode != 0:
                subprocess.run(["umount", "-l", str(where)])


def unmount_stale() -> None:
    """Unmount what a killed run left bound under build/roots (deepest first), so nothing is bound
    twice and deleting a root cannot reach the host's /dev, /tmp or the checkout."""
    with open("/proc/self/mountinfo") as mounts:
        points = [line.split()[4].replace("\\040", " ") for line in mounts]
    for point in sorted((p for p in points if p.startswith(str(ROOTS) + "/")), key=len, reverse=True):
        print("unmounting what a stopped run left:", point, flush=True)
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


def ready(target: Target) -> bool:
    return (target.root / STAMP).exists() and (target.root / STAMP).read_text() == recipe(target)


def bootstrap(targets: list[Target]) -> None:
    """debootstrap the roots not yet made, all at once: it mostly waits on the archive, not the CPU.
    Each one's output goes to build/roots/<name>.debootstrap.log, shown when it fails."""
    missing = [t for t in targets if not ready(t) and not (t.root / BOOTSTRAPPED).exists()]
    ROOTS.mkdir(parents=True, exist_ok=True)
    started = []
    for target in missing:
        if target.root.exists():
            shutil.rmtree(target.root)  # an unfinished debootstrap: start again
        log = ROOTS / ("%s.debootstrap.log" % target.name)
        command = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), target.suite,
                   str(target.root), MIRROR]
        print("$", " ".join(command), ">", log, flush=True)
        with open(log, "wb") as output:
            started.append((target, log, subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)))
    failed = []
    for target, log, process in started:
        if process.wait() == 0:
            (target.root / BOOTSTRAPPED).write_text("debootstrap done\n")
        else:
            print(log.read_text(errors="replace")[-4000:], flush=True)
            failed.append(target.name)
    if failed:
        raise SystemExit("debootstrap failed for %s" % ", ".join(failed))


def ensure(target: Target) -> None:
    """Provision the (bootstrapped) root unless its stamp says it is ready."""
    if ready(target):
        return
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/resolv.conf", *PIP_FILES):
        if os.path.exists(path):
            destination = target.root / path.lstrip("/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            if os.path.isdir(path):
                shutil.copytree(path, destination, dirs_exist_ok=True)
            else:
                shutil.copy2(path, destination)
    (target.root / "etc/apt/sources.list").write_text("deb %s %s main\n" % (MIRROR, target.suite))
    with mounted(target):
        apt = " ".join(target.apt())
        packages = PACKAGES + tuple(package for _, package in target.debian_python)
        check_inside(target, "%s update && %s install %s" % (apt, apt, " ".join(packages)))
        if target.parquet_driver:
            build_parquet_driver(target)
        requirements = [line.split("#")[0].strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()]
        from_debian = {name for name, _ in target.debian_python}
        requirements = [r for r in requirements if r and re.match(r"[A-Za-z0-9_.-]+", r).group(0) not in from_debian]
        # --clear: a root provisioned again keeps nothing pip put there before (it would shadow Debian's).
        check_inside(target, "python3 -m venv --clear --system-site-packages %s && %s/bin/python -m pip install -q "
                     "--disable-pip-version-check %s" % (VENV, VENV, " ".join("'%s'" % r for r in requirements)))
    (target.root / STAMP).write_text(recipe(target))


def recipe(target: Target) -> str:
    """What a provisioned root was made from: a root made from another recipe is provisioned again."""
    digest = hashlib.sha256((ROOT / "requirements-dev.txt").read_bytes() + Path(__file__).read_bytes())
    return "%s %s\n" % (target.name, digest.hexdigest())


def build_parquet_driver(target: Target) -> None:
    """GDAL's Parquet driver as a plugin, from Debian's GDAL source, against the root's GDAL."""
    apt = " ".join(target.apt())
    check_inside(target, "%s install %s" % (apt, " ".join(GDAL_BUILD)))
    script = (
        "set -e; version=$(dpkg-query -W -f='${Version}' libgdal-dev | sed 's/-[^-]*$//; s/^[0-9]*://'); "
        "upstream=${version%%+dfsg*}; mkdir -p /opt/gdal-src && cd /opt/gdal-src; "
        "curl -sSfLO %s/pool/main/g/gdal/gdal_${version}.orig.tar.xz; "
        "tar xf gdal_${version}.orig.tar.xz; cd gdal-${upstream}; "
        "cmake -S ogr/ogrsf_frmts/parquet -B build -DCMAKE_BUILD_TYPE=Release > /dev/null; "
        "cmake --build build -j2 > /dev/null; "
        "plugins=$(dirname $(dpkg -L libgdal-dev | grep 'libgdal.so$' | head -1))/gdalplugins; mkdir -p $plugins; "
        "cp build/ogr_Parquet.so $plugins/; "
        "python3 -c \"from osgeo import gdal; assert gdal.GetDriverByName('Parquet'), 'no Parquet driver'\"" % MIRROR)
    check_inside(target, script)


def main() -> int:
    for name in ("SIGTERM", "SIGHUP"):  # a kill or a closed terminal still unmounts the roots
        signal.signal(getattr(signal, name), lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__)
    names = [t.name for t in TARGETS]
    parser.add_argument("targets", nargs="*", default=names, help="some of: %s" % " ".join(names))
    parser.add_argument("--pytest", default="", help="arguments for pytest in each root")
    args = parser.parse_args()
    unknown = sorted(set(args.targets) - set(names))
    if unknown:  # MATRIX=trixe must not pass by running nothing
        parser.error("no matrix target %s (there are: %s)" % (", ".join(unknown), ", ".join(names)))
    if os.geteuid() != 0:
        raise SystemExit("make test-matrix needs root: debootstrap, mount and chroot")
    unmount_stale()
    chosen = [t for t in TARGETS if t.name in args.targets]
    bootstrap(chosen)
    failed = []
    for target in chosen:
        ensure(target)
        with mounted(target):
            code = inside(target, "cd '%s' && %s/bin/python -m pytest -p no:cacheprovider %s"
                          % (ROOT, VENV, args.pytest), env={"WIT_MATRIX": target.name})
        print("[%s] QGIS %s: pytest exited %d" % (target.name, target.qgis, code), flush=True)
        if code != 0:
            failed.append(target.name)
    if failed:
        print("test-matrix failed on: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
