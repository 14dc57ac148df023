"""Start the real QGIS desktop (qgis.bin) under Xvfb with a driver from tests/desktop/ and read its report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

DRIVERS = Path(__file__).parent / "desktop"


def run_driver(driver: str, env: dict, out: Path, screen: str = "1280x1024x24", **variables: str) -> dict:
    """Run ``driver`` in qgis.bin with the profile of ``env``; its report.json as a dict.

    ``out`` receives the report and any screenshots; ``variables`` go to the driver's environment.
    """
    out.mkdir(parents=True, exist_ok=True)
    env = dict(env, WIT_DESKTOP_OUT=str(out), PYTHONPATH=str(DRIVERS), **variables)
    env.pop("QT_QPA_PLATFORM", None)  # a real X display
    run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 %s" % screen, "qgis.bin", "--noversioncheck",
                          "--nologo", "--code", str(DRIVERS / driver)], env=env, capture_output=True, text=True,
                         timeout=600)
    report_path = out / "report.json"
    assert report_path.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert "error" not in report, report.get("error")
    return report
