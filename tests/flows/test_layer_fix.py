"""The fix of a finding outside NSGs names the rule where it lives and never runs its names as code."""

from __future__ import annotations

import subprocess
from pathlib import Path

from auditkit.flows.remediation import restrict_command

HOSTILE = "x$(touch PWNED)`touch PWNED2`;touch PWNED3\ntouch PWNED4\r\ntouch PWNED5"


def finding(layer: str, rule_name: str) -> dict:
    return {"layer": layer, "rule_name": rule_name, "nsg_name": f"fw-{HOSTILE}", "subscription_id": "s",
            "resource_group": f"rg-{HOSTILE}", "port": 25}


def test_a_policy_dnat_rule_gets_the_firewall_command() -> None:
    cmd = restrict_command(finding("firewall-dnat", "fwp/rcg/coll/smtp-in"), ("192.0.2.25/32",))
    assert cmd.startswith("az network firewall policy rule-collection-group collection rule update ")
    assert "--policy-name fwp --rcg-name rcg --collection-name coll --name smtp-in --source-addresses 192.0.2.25/32" in cmd
    assert "--nsg-name" not in cmd


def test_hostile_names_in_every_layers_fix_stay_text(tmp_path: Path) -> None:
    for layer, name in (("firewall-dnat", f"p/g/c/{HOSTILE}"), ("firewall-dnat", f"classic/{HOSTILE}"),
                        ("admin-rule", f"cfg/rc/{HOSTILE}"), ("app-gateway", HOSTILE)):
        cmd = restrict_command(finding(layer, name), (HOSTILE,))
        # Run it with az replaced by printf: nothing the names say may execute.
        script = "az() { printf '%s\\n' \"$@\"; }\n" + cmd + "\n"
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
        assert not list(tmp_path.iterdir()), (layer, cmd)
        assert done.stderr == ""
