"""The ``auditkit`` command line: each subcommand calls the same functions as the notebooks.

One module per command, each with ``register(subparsers)`` and ``run(args)``; this module builds
the parser from them and runs the one asked for, turning every error into one line and an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys

from auditkit import __version__
from auditkit.cli import (
    collect,
    demo,
    export,
    flows,
    guardrail,
    init,
    kpis,
    monthly,
    reach,
    render,
    scan,
    snapshots,
    verify,
)
from auditkit.cli.console import EXIT_INTERRUPTED, EXIT_USAGE, Parser, say
from auditkit.cli.folders import resolve_folders
from auditkit.errors import AuditkitError

# In the order ``auditkit --help`` lists them.
COMMANDS = (scan, export, guardrail, reach, collect, render, verify, monthly, init, demo, kpis, flows, snapshots)
# Commands that write to a storage URL themselves; the others read its local copy.
WRITES_TO_STORAGE = ("collect", "render", "monthly")


def build_parser() -> argparse.ArgumentParser:
    """The ``auditkit`` parser with every command's subparser."""
    parser = Parser(prog="auditkit", description="Audit Azure NSG rules that expose "
                                                 "SMTP (25), SSH (22) and RDP (3389) to the internet.")
    parser.add_argument("--version", action="version", version=f"auditkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def _terminate(signum: int, frame: object) -> None:
    # A scheduler's SIGTERM unwinds like Ctrl-C, so that temporary folders are removed.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run ``auditkit`` with ``argv`` (default: the process's arguments) and return its exit code."""
    import signal

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        resolve_folders(args, local_copy=args.command not in WRITES_TO_STORAGE)
        return args.run(args)
    except AuditkitError as exc:
        say(f"auditkit: error: {exc}", err=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("auditkit: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (auditkit scan ... | head): say nothing more on a closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USAGE
    except OSError as exc:
        where = exc.filename or "the output"
        say(f"auditkit: error: {where}: {exc.strerror or exc}", err=True)
        return EXIT_USAGE
    except RecursionError:
        say("auditkit: error: an input is nested too deeply to read", err=True)
        return EXIT_USAGE
    except MemoryError:
        say("auditkit: error: an input is too large for this machine's memory", err=True)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, the traceback on request
        if os.environ.get("AUDITKIT_DEBUG"):
            raise
        say(f"auditkit: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "(a bug in auditkit: run again with AUDITKIT_DEBUG=1 for the traceback and report it)", err=True)
        return EXIT_USAGE


__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
