"""``auditkit verify``: re-hash a rendered period against its manifest (and its signature)."""

from __future__ import annotations

import argparse

from auditkit.cli.console import EXIT_FINDINGS, EXIT_OK, say


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``verify`` and its options."""
    p = subparsers.add_parser("verify", help="re-hash a rendered period against its manifest")
    p.add_argument("folder", help="reports/<period>")
    p.add_argument("--expect-sha256", metavar="HASH", help="the manifest's SHA-256 you kept when the period was "
                   "rendered: the manifest must be that one")
    p.add_argument("--public-key", metavar="KEY", help="an Ed25519 public key (OpenSSH or PEM): the manifest's "
                   "signature (manifest.json.sig) must verify with it")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Say the manifest's hash and every problem found; exit 1 when there is one."""
    from auditkit.cli.folders import staged_copy
    from auditkit.errors import InputError
    from auditkit.evidence.storage import is_url, plain_path
    from auditkit.render.manifest import manifest_sha256, verify

    named = plain_path(args.folder)
    folder = staged_copy(named) if is_url(named) else named  # a URL's period: its local copy
    try:
        problems = verify(folder, expect_sha256=args.expect_sha256, public_key=args.public_key)
    except InputError as exc:
        raise InputError(str(exc).replace(str(folder), str(named))) from None
    say(f"{named}: manifest.json sha256 {manifest_sha256(folder)}")
    for p in problems:
        say(f"{named}: {p}")
    if not problems:
        checks = ["every file matches the manifest"]
        if args.expect_sha256:
            checks.append("the manifest is the one expected")
        if args.public_key:
            checks.append("the signature is valid")
        say(f"{named}: {'; '.join(checks)}")
    return EXIT_FINDINGS if problems else EXIT_OK
