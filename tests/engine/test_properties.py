"""Property tests: the vectorised engine against the plain first-match evaluator in auditkit.reference."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import auditkit
from auditkit.engine.reference import reference_findings
from tests.builders import nsg, rule

PORTS = (25, 22, 3389)
SOURCES = ["*", "Internet", "Any", "0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2",
           "10.0.0.0/8", "203.0.113.0/24", "0.0.0.0/2", "64.0.0.0/2", "::/0", "::/1", "8000::/1", "2001:db8::/32",
           "VirtualNetwork", "AzureCloud"]
SOURCE_PORTS = ["*", "80", "0-32767", "32768-65535", "1024-65535", "0-65535"]
DESTINATIONS = ["*", "10.0.0.0/24", "10.0.0.4", "10.0.0.0/16", "10.0.0.128/25", "2001:db8::1", "::/0"]
DEST_PORTS = ["*", "25", "22", "3389", "20-30", "2525", "3000-4000", "26-30", "21-22", "0-65535"]

# Each example is a batch of up to 10 NSGs (one scan call costs about 0.1 s whatever its size):
# 100 examples check about as many NSGs as 300 examples of 1-3 did, in a third of the time.
settings.register_profile("ci", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("AUDITKIT_HYPOTHESIS_PROFILE", "ci"))


@st.composite
def rules_strategy(draw, simple_denies: bool) -> list[dict]:
    n = draw(st.integers(1, 6))
    priorities = draw(st.lists(st.integers(100, 140), min_size=n, max_size=n, unique=True))
    out = []
    for i, prio in enumerate(priorities):
        access = draw(st.sampled_from(["Allow", "Deny"]))
        deny_simple = simple_denies and access == "Deny"
        out.append(rule(
            f"r{i}", prio,
            access=access,
            direction=draw(st.sampled_from(["Inbound", "Inbound", "Inbound", "Outbound", "inbound"])),
            protocol=draw(st.sampled_from(["Tcp", "Udp", "*", "Any", "tcp"])),
            srcs=draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True)),
            sports=["*"] if deny_simple else draw(st.lists(st.sampled_from(SOURCE_PORTS), min_size=1, max_size=2,
                                                           unique=True)),
            dsts=["*"] if deny_simple else draw(st.lists(st.sampled_from(DESTINATIONS), min_size=1, max_size=2,
                                                         unique=True)),
            ports=draw(st.lists(st.sampled_from(DEST_PORTS), min_size=1, max_size=3, unique=True)),
        ))
    return out


def _engine(records: list[dict]) -> set:
    f = auditkit.scan(records, ports=PORTS, include_shadowed=True).findings
    return {(i.lower(), r, int(p), bool(s)) for i, r, p, s in
            zip(f["nsg_id"], f["rule_name"], f["port"], f["shadowed"], strict=True)}


@pytest.mark.slow(seconds=12)
@given(st.lists(rules_strategy(simple_denies=False), min_size=1, max_size=10))
def test_engine_is_sound_against_reference(nsgs: list) -> None:
    """Rules 1-4 agree exactly; a rule the engine calls shadowed is shadowed for every concrete packet."""
    records = [nsg(*rules, name=f"nsg-{i}") for i, rules in enumerate(nsgs)]
    engine, ref = _engine(records), reference_findings(records, PORTS)
    assert {e[:3] for e in engine} == {r[:3] for r in ref}
    ref_shadowed = {r[:3] for r in ref if r[3]}
    assert {e[:3] for e in engine if e[3]} <= ref_shadowed


@pytest.mark.slow(seconds=20)
@given(st.lists(rules_strategy(simple_denies=True), min_size=1, max_size=10))
def test_engine_equals_reference_when_denies_cover_all_destinations(nsgs: list) -> None:
    """With Deny rules to any destination from any source port, the verdicts are identical."""
    records = [nsg(*rules, name=f"nsg-{i}") for i, rules in enumerate(nsgs)]
    assert _engine(records) == reference_findings(records, PORTS)
