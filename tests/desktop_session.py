"""Start the real QGIS desktop (qgis.bin) under Xvfb with a driver from tests/desktop/ and read its report."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import tempfile
from pathlib import Path

DRIVERS = Path(__file__).parent / "desktop"


@contextlib.contextmanager
def virtual_screen(screen: str):
    """An Xvfb of its own; yields its DISPLAY. Xvfb picks a free display number itself (-displayfd), so
    desktops started at once by parallel workers, or by the matrix's two roots (which share the network
    namespace, where X's abstract sockets live), never collide (xvfb-run -a looks for a free number,
    then starts: two at once can pick the same)."""
    read, write = os.pipe()
    said = tempfile.TemporaryFile()  # a file, not a pipe: nobody reads Xvfb while the desktop runs
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", screen, "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=said)
    os.close(write)
    try:
        number = b""
        while not number.endswith(b"\n"):
            if not select.select([read], [], [], 60)[0]:
                raise AssertionError("Xvfb gave no display within 60 s")
            chunk = os.read(read, 16)
            if not chunk:
                server.wait()
                said.seek(0)
                raise AssertionError("Xvfb exited: %s" % said.read().decode(errors="replace")[-2000:])
            number += chunk
        yield ":%d" % int(number)
    finally:
        os.close(read)
        server.terminate()
        server.wait()
        said.close()


def run_driver(driver: str, env: dict, out: Path, screen: str = "1280x1024x24", **variables: str) -> dict:
    """Run ``driver`` in qgis.bin with the profile of ``env``; its report.json as a dict.

    ``out`` receives the report and any screenshots; ``variables`` go to the driver's environment.
    """
    out.mkdir(parents=True, exist_ok=True)
    env = dict(env, WIT_DESKTOP_OUT=str(out), PYTHONPATH=os.pathsep.join((str(DRIVERS), str(DRIVERS.parent))),
               **variables)  # the drivers import harness and qgis_helpers
    env.pop("QT_QPA_PLATFORM", None)  # a real X display
    with virtual_screen(screen) as display:
        run = subprocess.run(["qgis.bin", "--noversioncheck", "--nologo", "--code", str(DRIVERS / driver)],
                             env=dict(env, DISPLAY=display), capture_output=True, text=True, timeout=600)
    report_path = out / "report.json"
    assert report_path.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert "error" not in report, report.get("error")
    return report
