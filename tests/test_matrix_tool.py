"""The test matrix's bookkeeping (tools/matrix.py, tools/test_summary.py): roots kept by recipe, never
used half made, and the per-QGIS summary CI ends with. debootstrap and chroot themselves run in
`make test-matrix`; here the steps that make a root are replaced so the rules can be watched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tools import matrix
from tools.test_summary import counts, is_closing_line, last_closing_line, record, show, summary_line

TRIXIE = matrix.TARGETS[0]


class Made:
    """Stands in for debootstrap and provisioning: what was run, and whether provisioning fails."""

    def __init__(self, fail_provisioning: bool = False):
        self.fail_provisioning = fail_provisioning
        self.steps: list[str] = []

    def run(self, root: matrix.Root):
        def run(command, output=None, env=None, on_line=None):
            self.steps.append(command[0])
            Path(command[-2]).mkdir(parents=True)  # debootstrap SUITE TARGET MIRROR
            (Path(command[-2]) / "bin").mkdir()
            return 0
        return run

    def provision(self, root: matrix.Root, output: Path) -> None:
        self.steps.append("provision")
        assert not root.path.exists()  # the final name appears only after this
        if self.fail_provisioning:
            raise matrix.RootFailed("pip failed")


@pytest.fixture
def make_root(tmp_path, monkeypatch):
    def make(made: Made) -> matrix.Root:
        root = matrix.Root(TRIXIE, tmp_path, lambda line: None)
        monkeypatch.setattr(root, "run", made.run(root))
        monkeypatch.setattr(matrix, "provision", made.provision)
        return root
    return make


def test_a_root_gets_its_final_name_only_when_whole(make_root):
    made = Made()
    root = make_root(made)
    root.ensure()
    assert made.steps == ["debootstrap", "provision"]
    assert root.path.is_dir() and not root.partial.exists()
    assert root.path.name == "trixie-%s" % matrix.recipe_hash(TRIXIE)

    again = Made()
    make_root(again).ensure()  # a second clone: the root is reused as it is
    assert again.steps == []


def test_a_half_made_root_is_made_again_never_used(make_root):
    failed = make_root(Made(fail_provisioning=True))
    with pytest.raises(matrix.RootFailed):
        failed.ensure()
    assert failed.partial.is_dir() and not failed.path.exists()  # what a killed or failed run leaves
    (failed.partial / "left-over").write_text("from the run that failed")

    made = Made()
    root = make_root(made)
    root.ensure()
    assert made.steps == ["debootstrap", "provision"]
    assert root.path.is_dir() and not (root.path / "left-over").exists()


def test_other_recipes_of_the_same_name_are_removed(make_root, tmp_path):
    root = make_root(Made())
    root.ensure()
    old = tmp_path / "trixie-0123456789abcdef"
    old_partial = tmp_path / "sid-0123456789abcdef.partial"
    other_name = tmp_path / "sid-fedcba9876543210"
    not_a_root = tmp_path / "trixie-notes"
    for folder in (old, old_partial, other_name, not_a_root):
        folder.mkdir()
    (tmp_path / "trixie-0123456789abcdef.log").write_text("old")
    root.remove_others()
    assert not old.exists() and not (tmp_path / "trixie-0123456789abcdef.log").exists()
    assert root.path.is_dir() and other_name.is_dir() and old_partial.is_dir() and not_a_root.is_dir()


def test_removing_a_root_never_reaches_through_what_is_bound_in_it(tmp_path, monkeypatch):
    """A killed run leaves the checkout bound inside a root: deleting the root unmounts it first, also
    when the cache is named by a relative path (the kernel lists mount points by their real paths)."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "work").write_text("a day's work")
    monkeypatch.chdir(tmp_path)
    root = matrix.Root(TRIXIE, Path("cache"), lambda line: None)
    inside = root.path / "work" / "checkout"
    inside.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(checkout), str(inside)], check=True)
    try:
        root.remove(root.path)
    finally:
        if os.path.ismount(inside):
            subprocess.run(["umount", "-l", str(inside)])
    assert not root.path.exists() and (checkout / "work").read_text() == "a day's work"


def test_the_recipe_is_what_a_root_is_made_from(monkeypatch):
    kept = matrix.recipe_hash(TRIXIE)
    assert matrix.recipe_hash(TRIXIE) == kept != matrix.recipe_hash(matrix.TARGETS[1])
    monkeypatch.setattr(matrix, "requirements", lambda target: ["pytest==1.0"])
    assert matrix.recipe_hash(TRIXIE) != kept
    monkeypatch.undo()
    monkeypatch.setattr(matrix, "PACKAGES", matrix.PACKAGES + ("gdal-bin",))
    assert matrix.recipe_hash(TRIXIE) != kept


def test_the_summary_counts_from_pytests_closing_line(tmp_path):
    closing = "========== 3 failed, 329 passed, 2 errors, 1 warning in 261.45s (0:04:21) =========="
    assert is_closing_line(closing) and not is_closing_line("[trixie] tests/test_wps.py ....")
    assert counts(closing) == {"passed": 329, "failed": 5, "skipped": 0, "warning": 1}
    assert summary_line("QGIS 3.40 (trixie)", closing, 262.4) == "QGIS 3.40 (trixie): 329 passed, 5 failed in 262 s"
    assert summary_line("QGIS 3.44 (sid)", "", 0, "debootstrap failed for sid\nE: ...") == (
        "QGIS 3.44 (sid): no tests ran: debootstrap failed for sid")
    log = "collected\n= 1 passed in 0.1s =\n....\n===== 332 passed in 280.1s =====\n"
    assert last_closing_line(log) == "===== 332 passed in 280.1s ====="
    record(tmp_path / "a.json", "QGIS 3.22.16 (this machine)", last_closing_line(log), 281)
    record(tmp_path / "b.json", "QGIS 3.44 (sid)", "= 338 passed in 300.0s =", 301)
    assert show([tmp_path / "a.json", tmp_path / "b.json"]).splitlines() == [
        "QGIS 3.22.16 (this machine): 332 passed, 0 failed in 281 s", "QGIS 3.44 (sid): 338 passed, 0 failed in 301 s",
        "===== 332 passed in 280.1s =====", "= 338 passed in 300.0s ="]  # pytest's own words last
