"""What to do with one exposed rule, from what its flow logs showed: the first rule of ``CHAIN`` that holds.

Recommendations are ``jit-managed``, ``needs-evidence`` (the logs cannot tell), ``decommission``
and ``restrict``. The kit proposes; it never applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auditkit.flows.remediation import delete_command, restrict_command


@dataclass(frozen=True)
class Facts:
    """What the logs say about one finding: everything its recommendation is chosen from."""

    finding: dict  # the finding's row (for the commands)
    port: int
    jit: bool  # a Just-in-Time rule of Defender for Cloud
    logged: bool  # the NSG appears in the flow logs given
    v1_only: bool  # every matched flow came from a version 1 flow log
    any_allowed: bool  # some source had an allowed flow
    days: int  # days of flow logs for the NSG
    first: str | None  # first and last of those days
    last: str | None
    min_days: int  # flows.min_window_days
    legit: int  # internet senders that completed sessions above flows.min_bytes
    gateway_seen: bool  # the mail gateway had allowed flows (mail rules only)
    proposed: list[str]  # the source prefixes to allow instead
    keep: tuple  # the gateway prefixes kept in the proposal


@dataclass(frozen=True)
class Recommendation:
    name: str
    command: str
    note: str


def _jit(f: Facts) -> Recommendation:
    return Recommendation("jit-managed", "", "Just-in-Time rule managed by Defender for Cloud: do not edit it by "
                                             "hand; review the JIT policy.")


def _unlogged(f: Facts) -> Recommendation:
    return Recommendation("needs-evidence", "", "No flow log of this NSG in the logs given: enable NSG or VNet flow "
                                                "logs for it and collect at least 30 days before restricting or "
                                                "removing the rule.")


def _v1_only(f: Facts) -> Recommendation:
    what = "delivered mail" if f.port == 25 else "real sessions"
    return Recommendation("needs-evidence", "", f"Only version 1 flow logs, which record no session state or bytes: "
                                                f"{what} cannot be told from scans. Switch the flow log to version 2 "
                                                "(or VNet flow logs) and look again.")


def _thin(f: Facts) -> Recommendation:
    found = (f"{f.days} day(s) of flow logs for this NSG ({f.first} to {f.last})"
             if f.days else "no day of flow logs for this NSG")
    return Recommendation("needs-evidence", "", f"Only {found}; at least {f.min_days} days (flows.min_window_days) "
                                                "are needed before restricting or removing the rule.")


def _decommission(f: Facts) -> Recommendation:
    note = (f"No legitimate inbound traffic on port {f.port} in the window: remove the rule."
            + (" Where hosts need to send mail, use authenticated submission on port 587." if f.port == 25 else ""))
    return Recommendation("decommission", delete_command(f.finding), note)


def _nothing(f: Facts) -> Recommendation:
    return Recommendation("needs-evidence", "", "No source to propose.")


def _restrict(f: Facts) -> Recommendation:
    note = (f"Replace the internet-wide source with {len(f.proposed)} prefix(es)"
            + (": the mail gateway and" if f.keep else ":") + f" {f.legit} sender(s) that completed sessions.")
    return Recommendation("restrict", restrict_command(f.finding, f.proposed), note)


# In order; the first condition that holds decides.
CHAIN: tuple[tuple[Callable[[Facts], bool], Callable[[Facts], Recommendation]], ...] = (
    (lambda f: f.jit, _jit),
    (lambda f: not f.logged, _unlogged),
    (lambda f: f.v1_only and not f.legit and f.any_allowed, _v1_only),
    # Never restrict or remove on thin data: a monthly batch or a partner's weekly relay may not
    # show up in a few days of logs.
    (lambda f: f.days < f.min_days, _thin),
    (lambda f: not f.legit and not f.gateway_seen, _decommission),
    (lambda f: not f.proposed, _nothing),
    (lambda f: True, _restrict),
)


def recommend(facts: Facts) -> Recommendation:
    """The recommendation of the first rule of ``CHAIN`` whose condition holds for ``facts``."""
    for holds, make in CHAIN:
        if holds(facts):
            return make(facts)
    raise AssertionError("the last rule of CHAIN always holds")
