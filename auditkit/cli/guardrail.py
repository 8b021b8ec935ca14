"""``auditkit guardrail``: an Azure Policy (JSON and Bicep, with az commands) for a port open to the internet."""

from __future__ import annotations

import argparse

from auditkit.cli import options
from auditkit.cli.console import EXIT_OK, say


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``guardrail`` and its options."""
    p = subparsers.add_parser("guardrail", help="write an Azure Policy (JSON and Bicep, with az commands) that "
                                                "audits or denies NSG rules opening a port to the internet")
    p.add_argument("--port", type=options.port, default=25, help="TCP port (default 25)")
    p.add_argument("--effect", choices=["Audit", "Deny", "Disabled"], default="Audit")
    p.add_argument("--out", dest="guardrail_out", default="guardrails", metavar="DIR",
                   help="folder for the files (default: guardrails)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the policy files and name each."""
    write_policy(args.guardrail_out, args.port, args.effect)
    return EXIT_OK


def write_policy(folder: str, port: int, effect: str) -> None:
    """Write the guardrail's files into ``folder``, saying each one written."""
    from auditkit.present.policy_files import write_guardrail

    for path in write_guardrail(folder, port, effect):
        say(f"wrote {path}")
