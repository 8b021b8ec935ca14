"""What the command line says and writes: terminal lines, output files, one-line usage errors, exit codes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from auditkit.formats import visible

# One meaning each: 0 done; 1 done, but a subscription or report failed, verification found a
# problem, or findings exist with --fail-on-findings; 2 bad input or environment (one line);
# 130 interrupted (Ctrl-C or SIGTERM).
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def say(text: object, err: bool = False) -> None:
    """A line for the terminal: control and invisible format characters of tenant text (escape
    sequences, bidirectional overrides) are shown escaped, never interpreted."""
    stream = sys.stderr if err else sys.stdout
    stream.write("\n".join(visible(line) for line in str(text).split("\n")) + "\n")


def write(text: str, out: str | None) -> None:
    """``text`` to standard output (``None`` or ``-``) or to the file ``out``, replaced whole."""
    if out is None or out == "-":
        sys.stdout.write(text)
        return
    path = Path(out)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class Parser(argparse.ArgumentParser):
    """Usage errors in one line (what and where), exit 2, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {visible(message)} (see {self.prog} --help)\n")
