"""Options several commands share, each worded once (argparse parents), and the types that check them."""

from __future__ import annotations

import argparse

from auditkit.errors import AuditkitError

SNAPSHOTS_HELP = ("snapshots folder, or a storage URL such as abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH "
                  "(default: the audit folder's snapshots/, else ./snapshots)")
PARAMETERS_HELP = "settings file: ports, mail gateways, thresholds (default: the audit folder's parameters/audit.yaml)"
PORTS_HELP = "comma-separated ports (default: from the settings, 25,22,3389 as shipped)"
NO_VERIFY_HELP = ("do not check snapshot files against their meta.json (faster; KPIs and reports then say "
                  "'snapshot hashes not checked')")


def ports(text: str) -> tuple[int, ...]:
    """``--ports``: comma-separated TCP ports, as the engine parses them."""
    from auditkit.engine.scan import parse_ports

    try:
        return parse_ports(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def port(text: str) -> int:
    """``--port``: one TCP port."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"port {text!r} is not a whole number from 0 to 65535")
    return int(text)


def workers(text: str) -> int:
    """``--workers``: a number of report workers."""
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 1 to 1024")
    return int(text)


def period(text: str) -> str:
    """``--period`` / ``--since``: a YYYY-MM period."""
    from auditkit.history.period import parse_period

    try:
        parse_period(text)
    except AuditkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


def snapshots_option() -> argparse.ArgumentParser:
    """``--snapshots DIR|URL``."""
    p = _parent()
    p.add_argument("--snapshots", default=None, metavar="DIR", help=SNAPSHOTS_HELP)
    return p


def ports_option() -> argparse.ArgumentParser:
    """``--ports 25,22,3389``."""
    p = _parent()
    p.add_argument("--ports", type=ports, default=None, help=PORTS_HELP)
    return p


def parameters_option() -> argparse.ArgumentParser:
    """``--parameters FILE``."""
    p = _parent()
    p.add_argument("--parameters", metavar="FILE", help=PARAMETERS_HELP)
    return p


def no_verify_option() -> argparse.ArgumentParser:
    """``--no-verify``."""
    p = _parent()
    p.add_argument("--no-verify", action="store_true", help=NO_VERIFY_HELP)
    return p


PARTIAL_INPUT_HELP = ("accept an input that says it is incomplete (an export of one page of many, a tenant cut at "
                      "10,000 subscriptions): what is made from it is then marked partial and says so")


def partial_input_option(flag: str = "--allow-partial") -> argparse.ArgumentParser:
    """``--allow-partial`` (``--allow-partial-input`` in ``monthly``, where the first is render's)."""
    p = _parent()
    p.add_argument(flag, dest="allow_partial_input", action="store_true", help=PARTIAL_INPUT_HELP)
    return p


def format_options(choices: tuple[str, ...], default: str, output: bool = True) -> argparse.ArgumentParser:
    """``--format`` among ``choices``, and (with ``output``) ``-o/--output FILE``."""
    p = _parent()
    p.add_argument("--format", choices=choices, default=default)
    if output:
        p.add_argument("-o", "--output", help="write to this file instead of standard output")
    return p
