"""Run the real qgis_process headless in an isolated profile with the plugin enabled."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from .plugin_files import PLUGIN_NAME, install

ALREADY_ENABLED = "Plugin is already enabled!"  # qgis_process's words (QGIS 3.22)


@functools.lru_cache(maxsize=1)
def _working_qgis_process() -> str:
    """The working qgis_process: Debian's wrapper passes --noversioncheck, which 3.22 rejects.

    Found once per process: each probe starts QGIS.
    """
    for candidate in ("qgis_process", "qgis_process.bin"):
        path = shutil.which(candidate)
        if not path:
            continue
        probe = subprocess.run([path, "--version"], capture_output=True, text=True, env=headless_env(),
                               timeout=120)
        if probe.returncode == 0 and "not known" not in probe.stdout + probe.stderr:
            return path
    raise RuntimeError("no working qgis_process found: install Debian's qgis package (make deps)")


def qgis_process_command() -> list[str]:
    """The command line that starts qgis_process here."""
    return [_working_qgis_process()]


def headless_env(config_path: Path | None = None) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.setdefault("XDG_RUNTIME_DIR", "/tmp/runtime-%s" % os.getuid())
    if config_path is not None:
        env["QGIS_CUSTOM_CONFIG_PATH"] = str(config_path)
    return env


def run_to_the_end(command: list[str], env: dict) -> int:
    """Run qgis_process and return its exit code, letting it finish after a Ctrl-C.

    Ctrl-C reaches qgis_process too, which then cancels, writes every feature and settles its
    journal; subprocess.run would kill it 0.25 s later, in the middle of that.
    """
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return process.wait()


def prepare_profile(config_path: Path) -> dict:
    """Install the plugin into ``config_path``'s default profile, enable it, return the environment.

    Idempotent, so a profile can be prepared again (a second `make demo`).
    """
    install(plugins_folder(config_path))
    return enable_plugin(config_path)


def plugins_folder(config_path: Path) -> Path:
    """The default profile's ``python/plugins`` folder under ``config_path``, created if missing."""
    plugins = Path(config_path) / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    return plugins


def enable_plugin(config_path: Path) -> dict:
    """Enable the plugin in ``config_path``'s default profile, where the desktop looks too; the environment."""
    env = headless_env(config_path)
    enabled = subprocess.run(qgis_process_command() + ["plugins", "enable", PLUGIN_NAME],
                             capture_output=True, text=True, env=env, timeout=120)
    said = enabled.stdout + enabled.stderr
    # qgis_process exits 1 when the plugin is enabled already: for us that is the goal reached.
    if enabled.returncode != 0 and ALREADY_ENABLED not in said:
        raise RuntimeError("could not enable the plugin: %s" % said)
    return env


def processing_session():
    """A headless QgsApplication in this process with Processing and the plugin's provider.

    Returns (application, plugin); keep both referenced while algorithms run. The plugin
    must be importable as ``wit_dispatcher`` (tests/conftest.py arranges that).
    """
    import sys

    from qgis.core import QgsApplication

    application = QgsApplication([], False)
    application.initQgis()
    sys.path.append(str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins"))
    from processing.core.Processing import Processing
    from wit_dispatcher.plugin import WitDispatcherPlugin

    Processing.initialize()
    plugin = WitDispatcherPlugin()
    plugin.initProcessing()
    return application, plugin
