"""Reports as PDF, printed by a headless Chromium already on the machine (Debian's ``chromium``, or
``$AUDITKIT_CHROMIUM``); the kit never downloads a browser. The report's print stylesheet decides
the page (landscape A4, charts and tables kept on the page, sections on new pages)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from auditkit.errors import InputError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "microsoft-edge")
TIMEOUT_SECONDS = 180


def chromium() -> str:
    """The Chromium executable to print with; a one-line error when there is none."""
    env = os.environ.get("AUDITKIT_CHROMIUM")
    if env:
        if not (shutil.which(env) or Path(env).is_file()):
            raise InputError(f"AUDITKIT_CHROMIUM={env}: no such executable")
        return shutil.which(env) or env
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise InputError("--pdf needs a Chromium on this machine (apt-get install -y chromium, or set AUDITKIT_CHROMIUM); "
                     "nothing was rendered")


def print_pdf(html: Path, pdf: Path, browser: str | None = None) -> None:
    """Print ``html`` to ``pdf`` (written under a temporary name, then renamed into place)."""
    browser = browser or chromium()
    tmp = pdf.with_name(f".{pdf.name}.tmp")
    with tempfile.TemporaryDirectory(prefix="auditkit-chromium-") as profile:
        args = [browser, "--headless", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
                f"--user-data-dir={profile}", "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
                "--virtual-time-budget=20000", f"--print-to-pdf={tmp}", html.resolve().as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise RuntimeError(f"Chromium could not print {html.name} (exit {done.returncode}): {last}")
    tmp.replace(pdf)
