"""The built-in demo tenant: a deterministic (seeded) story of 8 subscriptions over 12 months.

About 150 NSGs: lift-and-shift open SMTP rules, dev rules promoted to production, mail rules
restricted to the gateway, unattached NSGs, partial tagging, Just-in-Time rules; findings appear,
get fixed and come back, and one subscription stops being readable near the end. Needs no Azure
and no network. The same generator, with size knobs, feeds the benchmarks.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml

from auditkit.demo.synthetic import DEMO_TENANT, nsg_record, security_rule, subscription_id
from auditkit.engine.changes import CHANGE_TYPE
from auditkit.evidence.snapshot import parse_as_of

SEED = 2026
MONTHS = 12
FIRST_MONTH = (2025, 12)  # snapshots on the 1st of each month at 06:00 UTC, Dec 2025 .. Nov 2026
DEMO_VERSION = "6"  # 6: the hub-and-spoke landing zone (admin rules, firewall DNAT, IPv6)

SUBSCRIPTIONS = [
    ("contoso-prod-mail", "prod"), ("contoso-prod-web", "prod"), ("contoso-prod-erp", "prod"),
    ("contoso-shared-services", "prod"), ("contoso-dev-sandbox", "dev"), ("contoso-dev-apps", "dev"),
    ("contoso-test-qa", "test"), ("contoso-legacy-dc", "prod"),
]
LOST_FROM_MONTH = 10  # contoso-legacy-dc can no longer be read in the last two snapshots
# The demo's own settings (its mail gateway), merged on top of the kit's defaults.
PARAMETERS = Path(__file__).with_name("parameters.yaml")
GATEWAY = list(yaml.safe_load(PARAMETERS.read_text(encoding="utf-8"))["flows"]["mail_gateways"])
PARTNER_RELAY = "192.0.2.25"


@dataclass(frozen=True)
class Exposure:
    """A rule that is internet-wide between ``opened`` and ``fixed`` (exclusive), again from ``reopened``."""

    name: str
    port_spec: str
    opened: int
    fixed: int | None
    reopened: int | None
    source: str = "*"
    description: str = ""

    def open_in(self, month: int) -> bool:
        if month < self.opened:
            return False
        if self.fixed is None or month < self.fixed:
            return True
        return self.reopened is not None and month >= self.reopened


def month_as_of(month: int) -> str:
    y, m = FIRST_MONTH
    m += month
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    return f"{y:04d}-{m:02d}-01T06:00:00Z"


@dataclass
class DemoNSG:
    sub: str
    rg: str
    name: str
    attached: bool
    tags: dict
    static_rules: list  # (name, access, protocol, sources, ports)
    exposures: list


def _plan(nsgs_per_sub: int = 19, subscriptions: list | None = None, seed: int = SEED) -> tuple[list, list[DemoNSG]]:
    rng = random.Random(seed)
    subs = []
    for name, env in subscriptions or SUBSCRIPTIONS:
        subs.append({"subscriptionId": subscription_id(rng), "name": name, "env": env})
    plan: list[DemoNSG] = []
    for s in subs:
        for i in range(nsgs_per_sub):
            kind = rng.choices(["web", "mail", "gateway", "admin", "app", "promoted", "jit", "shadow"],
                               weights=[5, 2 if "mail" in s["name"] or "legacy" in s["name"] else 0.4, 1.5, 2, 4,
                                        1 if s["env"] == "prod" else 0, 0.8, 0.6])[0]
            rg = f"rg-{s['name'].split('-', 1)[1]}-{i // 5}"
            name = f"nsg-{kind}-{i:02d}"
            tags: dict = {}
            if rng.random() < 0.55:
                tags[rng.choice(["owner", "Owner", "owned-by", "team", "owner-email"])] = \
                    rng.choice(["mail-team", "web-platform", "erp-ops", "netsec", "alice@contoso.example"])
            if rng.random() < 0.35:
                tags[rng.choice(["expires", "review-by", "expiry-date"])] = rng.choice(
                    ["2026-03-31", "2026-09-30", "2027-06-30", "2027-12-31", "next quarter"])
            if rng.random() < 0.4:
                tags[rng.choice(["justification", "ticket", "purpose"])] = rng.choice(
                    ["CHG-1042", "legacy relay for invoices", "partner EDI", "INC-77"])
            if rng.random() < 0.5:
                tags[rng.choice(["environment", "env"])] = s["env"]
            static = [("Allow-HTTPS", "Allow", "Tcp", ["*"], ["443"])]
            exposures: list[Exposure] = []

            def life() -> tuple[int, int | None, int | None]:
                opened = 0 if rng.random() < 0.6 else rng.randrange(1, MONTHS)
                fixed = opened + rng.randrange(1, 8) if rng.random() < 0.6 else None
                if fixed is not None and fixed >= MONTHS:
                    fixed = None
                reopened = fixed + rng.randrange(1, 4) if fixed is not None and rng.random() < 0.25 else None
                return opened, fixed, reopened

            if kind == "mail":
                exposures.append(Exposure("Allow-SMTP-Any", "25", *life(),
                                          description="lift-and-shift relay" if rng.random() < 0.5 else ""))
            elif kind == "gateway":
                static.append(("Allow-SMTP-From-Gateway", "Allow", "Tcp", GATEWAY, ["25"]))
            elif kind == "admin":
                port = rng.choice(["22", "3389"])
                exposures.append(Exposure(f"Allow-{'SSH' if port == '22' else 'RDP'}-Internet", port, *life(),
                                          source=rng.choice(["*", "Internet", "0.0.0.0/0"])))
            elif kind == "promoted":
                exposures.append(Exposure("dev-allow-all", "1-65535", *life(),
                                          description="copied from dev, temporary"))
            elif kind == "jit":
                static.append(("SecurityCenter-JITRule_0_8a2f1c", "Deny", "*", ["*"], ["22", "3389"]))
                static.append(("SecurityCenter-JITRule-1-8a2f1c", "Allow", "*", ["198.51.100.77"], ["22"]))
            elif kind == "shadow":
                static.append(("Deny-SMTP-Internet", "Deny", "Tcp", ["Internet"], ["25"]))
                exposures.append(Exposure("Allow-SMTP-Legacy", "25", 0, None, None))
            elif kind == "app":
                static.append(("Allow-App-VNet", "Allow", "Tcp", ["VirtualNetwork"], ["8080-8090"]))
            attached = rng.random() > 0.12 and not (kind in ("mail", "admin") and i % 5 == 4)  # some latent
            plan.append(DemoNSG(s["subscriptionId"], rg, name, attached, tags, static, exposures))
    return subs, plan


def subscription_names(n: int | None) -> list[tuple[str, str]]:
    """The demo's 8 subscriptions, or ``n`` of them for benchmarks (more are numbered)."""
    if n is None or n == len(SUBSCRIPTIONS):
        return SUBSCRIPTIONS
    envs = ["prod", "prod", "dev", "test"]
    extra = [(f"contoso-{envs[i % 4]}-unit{i:03d}", envs[i % 4]) for i in range(max(0, n - len(SUBSCRIPTIONS)))]
    return (SUBSCRIPTIONS + extra)[:n]


def tenant_month(month: int, nsgs_per_sub: int = 19, n_subscriptions: int | None = None) -> tuple[list[dict], list[dict]]:
    """(NSG records, subscription rows) of the demo tenant at ``month`` (0 = first snapshot)."""
    records, sub_rows, _, _, _ = tenant_month_with_topology(month, nsgs_per_sub, n_subscriptions)
    return records, sub_rows


def tenant_month_with_topology(month: int, nsgs_per_sub: int = 19, n_subscriptions: int | None = None
                               ) -> tuple[list[dict], list[dict], list[dict], list[dict], list[dict]]:
    """(NSG records, subscription rows, topology records, resourcechanges rows, policyresources rows) of the
    demo tenant at ``month``."""
    from auditkit.demo.estate import EDGE_SUBSCRIPTION, behind_nsgs, edge_network
    from auditkit.demo.landing_zone import LANDING_ZONE_SUBSCRIPTION, landing_zone

    subs, plan = _plan(nsgs_per_sub, subscription_names(n_subscriptions))
    lost = {s["subscriptionId"] for s in subs if s["name"] == "contoso-legacy-dc"} if month >= LOST_FROM_MONTH else set()
    records = []
    opened: list[dict] = []
    for n in plan:
        if n.sub in lost:
            continue
        nid = (f"/subscriptions/{n.sub}/resourceGroups/{n.rg}/providers/Microsoft.Network/"
               f"networkSecurityGroups/{n.name}")
        rules = []
        prio = 100
        # Deny and JIT rules first, as people write them.
        for name, access, proto, sources, ports in sorted(n.static_rules, key=lambda r: r[1] != "Deny"):
            rules.append(security_rule(nid, name, prio, access, proto, sources, ports, ["*"]))
            prio += 10
        for e in n.exposures:
            source = [e.source] if e.open_in(month) else GATEWAY
            if month and e.open_in(month) and not e.open_in(month - 1):
                # Who opened it: Resource Graph's change history for the NSG, days before the snapshot.
                opened.append(change_record(nid, len(rules), source[0], GATEWAY[0], month, len(opened)))
            rules.append(security_rule(nid, e.name, prio, "Allow", "Tcp", source, [e.port_spec], ["*"],
                                       description=e.description))
            prio += 10
        records.append(nsg_record(n.sub, n.rg, n.name, rules, attached=n.attached, tags=dict(n.tags)))
    sub_rows = [{"id": f"/subscriptions/{s['subscriptionId']}", "subscriptionId": s["subscriptionId"],
                 "tenantId": DEMO_TENANT,
                 "name": s["name"], "type": "microsoft.resources/subscriptions",
                 "tags": {"environment": s["env"]}, "properties": {"state": "Enabled"}}
                for s in subs if s["subscriptionId"] not in lost]
    topology = behind_nsgs(records)
    for s in subs:
        if s["name"] == EDGE_SUBSCRIPTION and s["subscriptionId"] not in lost:
            edge_nsgs, edge_topology = edge_network(s["subscriptionId"])
            records.extend(edge_nsgs)
            topology.extend(edge_topology)
        if s["name"] == LANDING_ZONE_SUBSCRIPTION and s["subscriptionId"] not in lost:
            lz_nsgs, lz_topology = landing_zone(s["subscriptionId"])
            records.extend(lz_nsgs)
            topology.extend(lz_topology)
    policy = guardrail_rows(records, subs, month)
    return records, sub_rows, topology, opened, policy


GUARDRAIL_FROM_MONTH = 9  # the mail subscription gets the SMTP guardrail assigned in September


def guardrail_rows(records: list[dict], subs: list[dict], month: int) -> list[dict]:
    """The SMTP guardrail assigned to the mail subscription (Audit), and its policy states, as
    ``policyresources`` rows; compliance computed by the kit's own policy evaluator."""
    from auditkit.demo.estate import EDGE_SUBSCRIPTION
    from auditkit.engine.policy_definition import definition, name_of
    from auditkit.engine.policy_eval import flags

    if month < GUARDRAIL_FROM_MONTH:
        return []
    sub = next((s["subscriptionId"] for s in subs if s["name"] == EDGE_SUBSCRIPTION), None)
    if sub is None:
        return []
    name = name_of(25)
    aid = f"/subscriptions/{sub}/providers/Microsoft.Authorization/policyAssignments/{name}"
    rows = [{"id": aid, "name": name, "type": "microsoft.authorization/policyassignments", "subscriptionId": sub,
             "properties": {"displayName": "auditkit: no SMTP from the internet", "scope": f"/subscriptions/{sub}",
                            "policyDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/"
                                                  f"policyDefinitions/{name}",
                            "parameters": {"effect": {"value": "Audit"}, "port": {"value": "25"}}}}]
    policy = definition(25)
    for i, rec in enumerate(r for r in records if r["subscriptionId"] == sub):
        bad = flags(policy, rec)
        rows.append({"id": f"{aid}/policystates/{i:04d}", "name": f"state-{i:04d}",
                     "type": "microsoft.policyinsights/policystates", "subscriptionId": sub,
                     "properties": {"policyAssignmentId": aid, "policyDefinitionName": name, "resourceId": rec["id"],
                                    "complianceState": "NonCompliant" if bad else "Compliant",
                                    "timestamp": month_as_of(month)}})
    return rows


CHANGERS = [("j.doe@contoso.example", "Azure Portal"), ("deploy-pipeline (service principal)", "Azure CLI"),
            ("a.admin@contoso.example", "Azure Portal"), ("terraform-sp (service principal)", "Terraform")]


def change_record(nsg_id: str, index: int, new: str, old: str, month: int, k: int) -> dict:
    """A ``resourcechanges`` row in Resource Graph's shape: a rule's source widened to ``new``."""
    when = parse_as_of(month_as_of(month)) - timedelta(days=3 + (k * 5) % 20, hours=k % 9)
    who, client = CHANGERS[(month + k) % len(CHANGERS)]
    sub = nsg_id.split("/")[2]
    return {"id": f"{nsg_id}/providers/Microsoft.Resources/changes/{month:02d}{k:04d}", "type": CHANGE_TYPE,
            "subscriptionId": sub, "tenantId": DEMO_TENANT,
            "properties": {"targetResourceId": nsg_id, "targetResourceType": "microsoft.network/networksecuritygroups",
                           "changeType": "Update",
                           "changeAttributes": {"timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                                                "changedBy": who, "clientType": client,
                                                "operation": "Microsoft.Network/networkSecurityGroups/write",
                                                "changesCount": 1},
                           "changes": {f"properties.securityRules[{index}].properties.sourceAddressPrefix": {
                               "previousValue": old, "newValue": new, "changeCategory": "User",
                               "propertyChangeType": "Update"}}}}


def build_snapshots(snapshots_dir: str | Path, months: int = MONTHS, nsgs_per_sub: int = 19,
                    n_subscriptions: int | None = None) -> Path:
    """Write the demo tenant's monthly snapshots (skipping those already there)."""
    from auditkit.collect import Rows, snapshot_from_records
    from auditkit.evidence.snapshot import list_snapshots, parse_as_of, snapshot_name

    root = Path(snapshots_dir)
    have = {s.id for s in list_snapshots(root)}
    for month in range(months):
        as_of = month_as_of(month)
        if snapshot_name(parse_as_of(as_of)) in have:
            continue
        records, subs, topology, changes, policy = tenant_month_with_topology(month, nsgs_per_sub, n_subscriptions)
        snapshot_from_records(Rows(records, subscriptions=subs, topology=topology, changes=changes, policy=policy),
                              snapshots_dir=root, as_of=as_of, source={"kind": "demo", "seed": SEED, "month": month})
    return root


def default_snapshots() -> str:
    """The demo tenant's snapshots in a per-user cache, built on first use: notebook defaults point here."""
    base = Path(os.environ.get("AUDITKIT_DEMO_DIR") or Path(os.environ.get("XDG_CACHE_HOME")
                or Path.home() / ".cache") / "auditkit" / f"demo-v{DEMO_VERSION}")
    snaps = base / "snapshots"
    if not (snaps / ".complete").is_file():
        with demo_lock(base):  # two notebooks opened at once build it once
            if not (snaps / ".complete").is_file():
                build_snapshots(snaps)  # each snapshot is written whole (temp + rename); reruns skip done ones
                (snaps / ".complete").write_text("demo snapshots complete\n")
    return str(snaps)


@contextmanager
def demo_lock(base: Path) -> Iterator[None]:
    """An exclusive lock on the demo cache while it is built (POSIX ``flock``)."""
    import fcntl

    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def demo_parameters() -> str:
    """The demo tenant's settings file (its mail gateway prefixes): used whenever the demo is shown."""
    return str(PARAMETERS)


def demo_subscription() -> str:
    """The demo subscription the notebooks open by default (the one with the mail servers)."""
    subs, _ = _plan()
    return next(s["subscriptionId"] for s in subs if s["name"] == "contoso-prod-mail")
