"""The generated guardrail policy, evaluated over the engine's own test corpus by the policy
evaluator (engine.policy_eval): it flags every single-rule finding the engine finds, except where a
per-resource policy cannot see what the engine sees (listed, with the reason)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

import auditkit
from auditkit.engine.policy_definition import definition
from auditkit.engine.policy_eval import flags
from auditkit.present.policy_files import write_guardrail
from tests.builders import nsg, rule
from tests.engine import test_exposure as corpus

CASES = [c for c in corpus.DIRECTION_ACCESS + corpus.PROTOCOL + corpus.PORTS + corpus.SOURCES + corpus.SHADOW
         if len(c[1]) == 1]
# Where the engine and a per-resource policy must differ, and why.
POLICY_CANNOT_SEE = {
    # Several prefixes that cover the internet only together (0.0.0.0/1 + 128.0.0.0/1): the policy
    # matches prefixes one by one against *, Internet, 0.0.0.0/0 and ::/0.
    "prefix_union": lambda rules: len(rules[0]["properties"].get("sourceAddressPrefixes") or []) > 1
    and not set(rules[0]["properties"]["sourceAddressPrefixes"]) & {"*", "Internet", "0.0.0.0/0", "::/0", "Any"},
}


def policy_flags(record: dict, port: int = 25) -> bool:
    return flags(definition(port), record, {"port": str(port)})


def standalone(rule_dict: dict) -> dict:
    """The same rule as a standalone Microsoft.Network/networkSecurityGroups/securityRules resource."""
    r = copy.deepcopy(rule_dict)
    return {"type": "Microsoft.Network/networkSecurityGroups/securityRules", "name": r["name"],
            "properties": r["properties"]}


@pytest.mark.parametrize("name,rules,expected", CASES, ids=[c[0] for c in CASES])
def test_policy_agrees_with_the_engine_on_single_rule_cases(name: str, rules: list, expected: set) -> None:
    record = nsg(*rules)
    engine = any(p == 25 for _, p in expected)
    limited = [k for k, why in POLICY_CANNOT_SEE.items() if why(rules)]
    policy = policy_flags(record)
    if limited:  # the policy never flags these; the engine does when the union covers the internet
        assert not policy, f"{name}: expected the documented limit {limited}"
        return
    assert policy == engine, name
    assert policy_flags(standalone(rules[0])) == engine, f"{name} (standalone rule)"


@pytest.mark.parametrize("spec,expected", [
    ({"port": "20-30"}, True), ({"port": "26-30"}, False), ({"ports": ["80", "20-30"]}, True),
    ({"ports": ["80", "443"]}, False), ({"port": "*"}, True), ({"srcs": ["10.0.0.0/8", "Internet"]}, True),
    ({"src": "::/0"}, True), ({"src": "203.0.113.0/24"}, False), ({"protocol": "Udp"}, False),
])
def test_ranges_lists_and_sources(spec: dict, expected: bool) -> None:
    assert policy_flags(nsg(rule("a", **spec))) is expected
    assert policy_flags(standalone(rule("a", **spec))) is expected


def test_shadowing_is_invisible_to_a_policy_and_the_port_is_a_parameter() -> None:
    shadowed = nsg(rule("deny", 100, access="Deny"), rule("a", 200))
    assert not auditkit.scan([shadowed]).findings.shape[0]
    assert policy_flags(shadowed)
    assert not policy_flags(nsg(rule("a", port="22")), 25)
    assert policy_flags(nsg(rule("a", port="22")), 22)


def test_cli_writes_definition_bicep_and_commands(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "auditkit", "guardrail", "--port", "3389", "--effect", "Deny",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["auditkit-internet-port-3389.bicep", "auditkit-internet-port-3389.commands.sh",
                     "auditkit-internet-port-3389.json", "auditkit-internet-port-3389.params.json",
                     "auditkit-internet-port-3389.rules.json"]
    d = json.loads((tmp_path / "auditkit-internet-port-3389.json").read_text())
    assert d["parameters"]["effect"]["defaultValue"] == "Deny"
    assert d["parameters"]["port"]["defaultValue"] == "3389"
    assert d["mode"] == "All"
    assert d["policyRule"]["then"] == {"effect": "[parameters('effect')]"}
    bicep = (tmp_path / "auditkit-internet-port-3389.bicep").read_text()
    assert "loadJsonContent('auditkit-internet-port-3389.json')" in bicep
    assert "param effect string = 'Deny'" in bicep
    sh = (tmp_path / "auditkit-internet-port-3389.commands.sh").read_text()
    assert "az policy definition create --name auditkit-internet-port-3389" in sh
    assert "az policy assignment create" in sh
    bad = subprocess.run([sys.executable, "-m", "auditkit", "guardrail", "--effect", "Block"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert write_guardrail(tmp_path / "again", 25)[0].is_file()
