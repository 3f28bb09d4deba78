#!/usr/bin/env python3
"""Set up everything (venv + pinned requirements via launch.py, Chromium for the browser
tests) and run the whole test suite.

    python tools/run_tests.py [pytest args]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_chromium() -> None:
    """The browser tests drive Debian's chromium (Playwright's own download is not possible offline)."""
    if shutil.which("chromium") or not shutil.which("apt-get"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("Installing chromium for the browser tests…", flush=True)
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.run(sudo + command).returncode != 0:
            print("could not install chromium: the browser tests will be skipped", flush=True)
            return


def main() -> None:
    subprocess.run([sys.executable, str(ROOT / "launch.py"), "--exit"], check=True, cwd=ROOT)
    ensure_chromium()
    in_venv = sys.prefix != sys.base_prefix
    python = sys.executable if in_venv else str(ROOT / "venv" / "bin" / "python")
    os.chdir(ROOT)
    os.execv(python, [python, "-m", "pytest", "tests", *sys.argv[1:]])


if __name__ == "__main__":
    main()
