"""What each QGIS passed, for `.ci/run` and `make test-matrix`: tests passed and failed and the seconds
taken, read from pytest's closing line (``==== 332 passed, 1 warning in 280.51s (0:04:40) ====``).

Each run is recorded in a JSON file; ``show`` prints one line per QGIS, then each run's own closing line,
so CI's log ends with pytest's words::

    python -m tools.test_summary record FILE LABEL LOG SECONDS   # LOG: the output of a pytest run
    python -m tools.test_summary show FILE...
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_CLOSING = re.compile(r"^=+ (?P<counts>.*?) in (?P<seconds>[\d.]+)s\b.*=+$")
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)")


def is_closing_line(line: str) -> bool:
    return bool(_CLOSING.match(line.strip()))


def last_closing_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if is_closing_line(line)]
    return lines[-1] if lines else ""


def counts(closing: str) -> dict[str, int]:
    """{'passed': 332, 'failed': 0, …} from a closing line (an error counts as a failure)."""
    found = {"passed": 0, "failed": 0, "skipped": 0}
    match = _CLOSING.match(closing.strip())
    for number, word in _COUNT.findall(match.group("counts") if match else ""):
        word = "failed" if word.startswith("error") else word
        found[word] = found.get(word, 0) + int(number)
    return found


def summary_line(label: str, closing: str, seconds: float, error: str = "") -> str:
    """``QGIS 3.40 (trixie): 332 passed, 0 failed in 302 s``, or what stopped it from testing."""
    if not closing:
        return "%s: no tests ran%s" % (label, (": " + error.splitlines()[0]) if error else "")
    found = counts(closing)
    return "%s: %d passed, %d failed in %d s" % (label, found["passed"], found["failed"], round(seconds))


def record(path: Path, label: str, closing: str, seconds: float, error: str = "") -> None:
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append({"label": label, "closing": closing, "seconds": seconds, "error": error})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(runs, indent=1))


def show(paths: list[Path]) -> str:
    runs = [run for path in paths if path.exists() for run in json.loads(path.read_text())]
    lines = [summary_line(r["label"], r["closing"], r["seconds"], r["error"]) for r in runs]
    return "\n".join(lines + [r["closing"] for r in runs if r["closing"]])


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["record"] and len(arguments) == 5:
        path, label, log, seconds = Path(arguments[1]), arguments[2], Path(arguments[3]), float(arguments[4])
        closing = last_closing_line(log.read_text(errors="replace")) if log.exists() else ""
        record(path, label, closing, seconds)
        return 0
    if arguments[:1] == ["show"]:
        print(show([Path(a) for a in arguments[1:]]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
