"""Two polling schedules side by side: this tree's and another checkout's, cold, at once.

`python -m bench.schedules OTHER_TREE JOBS SECONDS [ROUNDS]` (e.g. a `git worktree add
/tmp/before <commit>` of the schedule to compare with) runs `bench.dispatch_peer ours` from each
tree against a fast.py server of its own, both at once, with a new job-time model each round,
and prints per round and tree: makespan / ideal and status requests per job (8 in flight).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, start_server

IN_FLIGHT = 8


def one_round(trees: dict[str, Path], jobs: int, seconds: float) -> dict[str, tuple[float, float]]:
    servers = {name: start_server(seconds, None) for name in trees}
    try:
        with tempfile.TemporaryDirectory() as models:
            runs = {}
            for name, tree in trees.items():
                env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(tree))
                runs[name] = subprocess.Popen(
                    [sys.executable, "-m", "bench.dispatch_peer", "ours", servers[name].wps_url, str(jobs),
                     str(IN_FLIGHT), "canberra", str(Path(models) / ("%s.json" % name))],
                    cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            ideal = jobs / IN_FLIGHT * seconds
            figures = {}
            for name, run in runs.items():
                makespan, polls = (float(v) for v in run.communicate()[0].strip().splitlines()[-1].split()[:2])
                figures[name] = (makespan / ideal, polls / jobs)
            return figures
    finally:
        for server in servers.values():
            server.stop()


def main(other: str, jobs: int, seconds: float, rounds: int = 3) -> None:
    trees = {"this": ROOT, "other": Path(other).resolve()}
    for number in range(1, rounds + 1):
        for name, (ratio, polls) in one_round(trees, jobs, seconds).items():
            print("round %d %s: %d x %g s, %.4f x ideal, %.2f requests/job" % (number, name, jobs, seconds, ratio,
                                                                                 polls), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *(int(v) for v in sys.argv[4:5]))
