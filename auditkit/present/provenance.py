"""Method and data provenance: how findings are decided, the snapshots behind the report with their
counts, the queries, the settings and the compliance mapping that were used."""

from __future__ import annotations

import json

import pandas as pd

from auditkit.history.timeline import History
from auditkit.present.context import ReportContext
from auditkit.present.html import HTML, code_block, concat, heading, paragraph, table

METHOD = ("A finding is (NSG, rule, port) where the rule is a custom inbound Allow, its protocol covers TCP, a "
          "destination port range covers the port, its sources are internet-wide (*, Any, Internet, a /0 prefix or "
          "prefixes covering all of IPv4 or IPv6) and earlier Deny rules do not hide it. Findings are tracked "
          "across snapshots by (NSG id, rule name, port). Open: present in the latest snapshot of a subscription "
          "that was read. Unknown: last seen in a subscription (or NSG) that could not be read since; never counted "
          "as fixed. Resolved: the subscription was read and the finding was gone.")


def method(ctx: ReportContext, history: History | None = None) -> HTML:
    """The method section; ``history`` is the report's own (one subscription's), else the tenant's."""
    h = history or ctx.history
    snaps = h.snapshots.assign(as_of=lambda d: pd.to_datetime(d["as_of"]).dt.strftime("%Y-%m-%d %H:%M"))
    meta = ctx.latest.meta
    controls = pd.DataFrame([{"control": c.label, "title": c.title, "framework": f"{c.framework_name} {c.version}",
                              "ports": ", ".join(map(str, c.ports)) or "all audited"} for c in ctx.controls])
    blocks = [heading("Method and data provenance", 2, "method"), paragraph(METHOD),
              heading("Snapshots", 3),
              table(snaps, ["snapshot", "as_of", "collected", "failed", "nsgs", "partial", "hash"],
                    ["Snapshot", "As of", "Subscriptions read", "Not read (failed or missing)", "NSGs",
                     "Partial (incomplete input accepted)", "SHA-256 of meta.json"]),
              heading("Compliance mapping", 3),
              table(controls, ["control", "title", "framework", "ports"], ["Control", "Title", "Framework", "Ports"],
                    empty="No compliance mapping."),
              heading("Source of the latest snapshot", 3),
              code_block(json.dumps(meta.get("source", {}), indent=1)),
              heading("Resource Graph queries", 3)]
    blocks += [concat(paragraph(name), code_block(text)) for name, text in meta.get("queries", {}).items()]
    blocks.append(heading("Settings", 3))
    blocks.append(code_block(json.dumps(ctx.history.settings.raw, indent=1)))
    return concat(*blocks)
