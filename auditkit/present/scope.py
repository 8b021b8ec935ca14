"""The scope block that opens every report: what was audited, from which evidence, by whom, and how
to check that the report is the one that was rendered."""

from __future__ import annotations

import pandas as pd

from auditkit.evidence.partial import partial_line
from auditkit.history.period import cutoff
from auditkit.present.context import ReportContext
from auditkit.present.findings import port_label
from auditkit.present.html import HTML, banner, concat, definition_list, heading, table


def identity_text(meta: dict) -> str:
    """Who collected a snapshot, from its meta.json (token claims, or how it was imported)."""
    ident = meta.get("identity") or {}
    source = meta.get("source") or {}
    kind = source.get("kind", "unknown") if isinstance(source, dict) else "unknown"
    if ident.get("kind") == "token":
        who = ident.get("upn") or ident.get("unique_name") or ident.get("name")
        parts = [who] if who else []
        if ident.get("appid") or ident.get("azp"):
            parts.append(f"application {ident.get('appid') or ident.get('azp')}")
        if ident.get("oid"):
            parts.append(f"object id {ident['oid']}")
        if ident.get("idtyp"):
            parts.append(f"({ident['idtyp']})")
        if ident.get("note"):
            parts.append(ident["note"])
        return " ".join(parts) or "token without identifying claims"
    if kind == "file":
        return f"offline import of {source.get('name')} (SHA-256 {source.get('sha256')}); the exporting identity is not known"
    if kind == "demo":
        return "the built-in demo tenant (generated, no Azure)"
    return str(ident.get("note") or f"not recorded ({kind})")


def cloud_text(meta: dict) -> str:
    cloud, endpoint = meta.get("cloud"), meta.get("endpoint")
    if not cloud:
        return "not applicable (no live collection)"
    return f"{cloud} ({endpoint})" if endpoint else str(cloud)


def tenant_text(ctx: ReportContext) -> str:
    ids: list[str] = []
    for d in reversed(ctx.history.derived):
        ids = list(d.snapshot.meta.get("tenant_ids") or [])
        if ids:
            break
    return ", ".join(ids) if ids else "not recorded in these snapshots"


def partial_snapshots(ctx: ReportContext) -> list[tuple[str, str]]:
    """(snapshot id, what is missing) of every snapshot of the report made from an incomplete input."""
    return [(d.snapshot.id, partial_line(d.snapshot.meta["partial"])) for d in ctx.history.derived
            if d.snapshot.meta.get("partial")]


def partial_banner(ctx: ReportContext) -> HTML:
    """The banner a report opens with when a snapshot it uses was made from an incomplete input."""
    partial = partial_snapshots(ctx)
    if not partial:
        return HTML("")
    latest = ctx.latest.meta.get("partial")
    head = ("The latest snapshot is partial: this report covers part of the scope, not the whole tenant."
            if latest else f"{len(partial)} earlier snapshot(s) of this report are partial: their findings cover "
                           "part of the scope.")
    return banner(head, "Its input said it was incomplete and was accepted with --allow-partial; what is missing "
                        "is unknown, never clean. " + "; ".join(f"{sid}: {why}" for sid, why in partial) + ".")


def block(ctx: ReportContext, subscription_id: str | None = None) -> HTML:
    """The scope of a report (``subscription_id=None``: the tenant overview)."""
    h = ctx.history
    latest = ctx.latest
    subs = ctx.subscriptions
    read = subs[subs["read"].to_numpy(dtype=bool)]
    unread = subs[~subs["read"].to_numpy(dtype=bool)]
    rows: list[tuple[str, object]] = []
    if subscription_id:
        status = ctx.read_status(subscription_id)
        rows.append(("Subscription", f"{ctx.subscription_name(subscription_id)} ({subscription_id})"))
        rows.append(("Read in the latest snapshot", "yes" if status is None else
                     f"no: {status['reason']}"))
    rows += [
        ("Tenant", tenant_text(ctx)),
        ("Period", f"{ctx.period} (snapshots taken up to {cutoff(ctx.period):%Y-%m-%d %H:%M} UTC)" if ctx.period
         else "all snapshots"),
        ("Subscriptions in scope", f"{len(subs)} known, {len(read)} read in the latest snapshot, {len(unread)} not read"
         + (f" ({', '.join(map(str, unread['name']))})" if len(unread) else "")),
        ("Latest snapshot", f"{latest.id}, as of {latest.meta.get('as_of')}; SHA-256 of its meta.json {latest.hash}"),
        ("Collected by", identity_text(latest.meta)),
        ("Cloud", cloud_text(latest.meta)),
        ("Audited ports", ", ".join(port_label(p) for p in h.ports)),
        ("Snapshot files", "every file read was checked against its meta.json (SHA-256)" if h.verified
         else "snapshot hashes not checked (rendered with --no-verify)"),
        ("Rendered", f"{ctx.rendered_at:%Y-%m-%d %H:%M} UTC by auditkit {ctx.version}"),
        ("How to verify", "manifest.json beside this report lists the SHA-256 of this file and of every other file "
                          "of the period. Keep the manifest's SHA-256 that the render printed, then run: auditkit "
                          "verify <this folder> --expect-sha256 <that hash> (and --public-key <key.pub> when the "
                          "period was signed)."),
    ]
    partial = partial_snapshots(ctx)
    rows.append(("Completeness", "; ".join(f"PARTIAL {sid}: {why}" for sid, why in partial) if partial else
                 "every snapshot used is a whole collection of its scope"))
    if h.unreadable:
        rows.append(("Snapshot folders skipped", ", ".join(f"{u.name} ({u.reason})" for u in h.unreadable)))
    snaps = h.snapshots.assign(as_of=lambda d: pd.to_datetime(d["as_of"]).dt.strftime("%Y-%m-%d %H:%M"))
    return concat(heading("Scope", 2, "scope"), partial_banner(ctx), definition_list(rows),
                  heading("Snapshots used", 3), table(snaps, ["snapshot", "as_of", "hash"],
                                                      ["Snapshot", "As of (UTC)", "SHA-256 of meta.json"]))
