"""Seconds from Cancel to the algorithm's return, with long jobs in flight (the target is 2 s).

Run: .venv/bin/python -m bench.cancel_latency
"""

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import conftest  # noqa: E402  (makes the plugin importable as wit_dispatcher)
from wit_server import launch  # noqa: E402


def main(repeats: int = 3) -> None:
    from tools.qgis import processing_session

    app, plugin = processing_session()
    import processing
    from qgis_helpers import RecordingFeedback

    server = launch.start(Path(tempfile.mkdtemp()), job_seconds=600)
    try:
        for concurrent in (2, 8, 32)[:repeats]:
            cancelled_at = []

            def cancel_when(line, n=concurrent, cancelled_at=cancelled_at):
                if line.startswith("%d running" % n) and not cancelled_at:
                    cancelled_at.append(time.monotonic())
                    return True
                return False

            feedback = RecordingFeedback(cancel_when=cancel_when)
            processing.run("wit:dispatchwit", {
                "INPUT": str(conftest.CANBERRA_ZIP), "WPS_URL": server.wps_url, "MAX_CONCURRENT": concurrent,
                "OUTPUT": "TEMPORARY_OUTPUT"}, feedback=feedback)
            print("MAX_CONCURRENT=%2d: cancel to return %.2f s" % (concurrent, time.monotonic() - cancelled_at[0]))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
