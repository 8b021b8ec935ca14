"""The ``auditkit`` command line: each subcommand calls the same functions as the notebooks."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from auditkit import __version__
from auditkit.errors import AuditkitError
from auditkit.formats import records, to_csv, to_json, to_table, visible
from auditkit.settings import default_folder

TABLE_COLUMNS = ["severity", "exposure", "port", "subscription_id", "resource_group", "nsg_name", "rule_name",
                 "priority", "sources", "reached"]
REACH_COLUMNS = ["vm_name", "public_ip", "frontend_port", "port", "path", "via", "private_ip", "subnet_nsg",
                 "subnet_rule", "nic_nsg", "nic_rule", "power_state", "subscription_id"]
# Worst first; --fail-on SEVERITY fails on that severity and every worse one.
SEVERITIES = ("critical", "high", "medium", "low", "latent", "info")

# One meaning each: 0 done; 1 done, but a subscription or report failed, verification found a
# problem, or findings exist with --fail-on-findings; 2 bad input or environment (one line);
# 130 interrupted (Ctrl-C or SIGTERM).
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SNAPSHOTS_HELP = ("snapshots folder, or a storage URL such as abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH "
                  "(default: the audit folder's snapshots/, else ./snapshots)")


def _ports(text: str) -> tuple[int, ...]:
    from auditkit.engine.scan import parse_ports

    try:
        return parse_ports(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _say(text: object, err: bool = False) -> None:
    """A line for the terminal: control and invisible format characters of tenant text (escape
    sequences, bidirectional overrides) are shown escaped, never interpreted."""
    stream = sys.stderr if err else sys.stdout
    stream.write("\n".join(visible(line) for line in str(text).split("\n")) + "\n")


def _write(text: str, out: str | None) -> None:
    if out is None or out == "-":
        sys.stdout.write(text)
        return
    path = Path(out)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _folders(args: argparse.Namespace) -> None:
    """``--snapshots`` and ``--out`` default to the audit folder's (``auditkit init``), else the working directory's."""
    if getattr(args, "snapshots", "") is None:
        args.snapshots = str(default_folder("snapshots"))
    if getattr(args, "out", "") is None:
        args.out = str(default_folder("reports"))
    from auditkit.evidence.storage import is_url, plain_path

    for name in ("snapshots", "out"):
        if hasattr(args, name):
            setattr(args, name, plain_path(getattr(args, name)))
    args.snapshots_named = getattr(args, "snapshots", None)  # as the user wrote it, for messages
    if getattr(args, "func", None) not in (cmd_collect, cmd_render, cmd_monthly) and is_url(args.snapshots_named):
        args.snapshots = str(_local_copy(args.snapshots))  # read-only commands read the local copy


def _local_copy(url: str) -> Path:
    """The local copy of a storage URL's folder, staged now; skipped blob names are said on stderr."""
    from auditkit.evidence.storage import stage

    copy = stage(url)
    for name in copy.skipped:
        _say(f"auditkit: {url}: blob {name!r} skipped: not a name a local copy can hold", err=True)
    return copy.path


def cmd_scan(args: argparse.Namespace) -> int:
    from auditkit.evidence.records import paused_gc

    with paused_gc():
        return _scan(args)


def _scan(args: argparse.Namespace) -> int:
    from auditkit.engine.scan import scan
    from auditkit.settings import load_settings

    ports = args.ports or load_settings(args.parameters).ports
    result = scan(args.path, ports=ports, include_shadowed=args.include_shadowed, allow_empty=args.allow_empty,
                  verify=not args.no_verify, exposure=args.exposure)
    summary = result.summary()
    findings = _worst_first(result.findings)
    if args.format == "json":
        text = to_json({"findings": records(findings), "errors": records(result.errors),
                        "broad": records(result.broad), "summary": summary})
    elif args.format == "csv":
        text = to_csv(findings)
    else:
        parts = [f"auditkit {__version__}: {summary['nsgs']} NSGs, {summary['rules']} rules, "
                 f"{summary['findings']} findings ("
                 + ", ".join(f"port {p}: {n}" for p, n in summary["per_port"].items())
                 + f"; {summary['attached']} attached, {summary['latent']} latent, {summary['shadowed']} shadowed)\n",
                 _exposure_line(summary, result.topology_note),
                 to_table(findings.assign(reached=_reached(findings)), TABLE_COLUMNS,
                          empty="No internet-exposed rules on the audited ports.")]
        if len(result.errors):
            parts.append(f"\n{len(result.errors)} input errors (rules evaluated on what could be read):\n")
            parts.append(to_table(result.errors, ["nsg_id", "rule_name", "field", "message"]))
        text = "".join(parts)
    _write(text, args.output)
    if len(result.errors):
        _say(f"auditkit: {len(result.errors)} input errors; first: {_first_error(result.errors)}", err=True)
    if args.fail_on_findings and summary["findings"]:
        return EXIT_FINDINGS
    if args.fail_on and len(findings):
        worse = SEVERITIES[:SEVERITIES.index(args.fail_on) + 1]
        live = findings[~findings["shadowed"].astype(bool)]
        if live["severity"].isin(worse).any():
            return EXIT_FINDINGS
    return EXIT_OK


def _worst_first(findings):
    """Findings sorted critical first (then by port, subscription, NSG, priority)."""
    if not len(findings):
        return findings
    rank = findings["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(len(SEVERITIES))
    return findings.assign(_rank=rank).sort_values(["_rank", "port", "subscription_id", "nsg_name", "priority"],
                                                   kind="stable").drop(columns="_rank").reset_index(drop=True)


def _reached(findings) -> list[str]:
    """Per finding: the machines the internet reaches through it ("vm-mail-01 via 20.60.0.10:25 (load-balancer)")."""
    out = []
    for eps in findings.get("endpoints", [()] * len(findings)):
        hits = [f"{e.get('vm_name') or e.get('nic_id', '').rsplit('/', 1)[-1]} via {e['public_ip']}:{e['frontend_port']}"
                f" ({e['path']})" for e in eps or () if e.get("path") and not e.get("blocked_by")]
        out.append(", ".join(hits[:3]) + (f" (+{len(hits) - 3} more)" if len(hits) > 3 else ""))
    return out


def _exposure_line(summary: dict, note: str) -> str:
    e = summary.get("exposure", {})
    if note:
        return f"effective exposure unknown: {note}\n"
    return (f"effective exposure: {e.get('reachable', 0)} reachable, {e.get('no-public-path', 0)} no public path, "
            f"{e.get('blocked', 0)} blocked, {e.get('latent', 0)} latent, {e.get('unknown-topology', 0)} unknown\n")


def cmd_reach(args: argparse.Namespace) -> int:
    from auditkit.engine.scan import reach

    out = reach(args.snapshot, args.port, verify=not args.no_verify)
    unknown = out.attrs.get("unknown_subscriptions", [])
    if args.format == "json":
        text = to_json({"port": args.port, "reachable": records(out), "unknown_subscriptions": unknown})
    elif args.format == "csv":
        text = to_csv(out)
    else:
        text = (f"auditkit {__version__}: {len(out)} endpoint paths the internet reaches on TCP {args.port}\n"
                + to_table(out, REACH_COLUMNS, empty=f"Nothing the internet reaches on TCP {args.port}."))
    _write(text, args.output)
    incomplete = out.attrs.get("incomplete", [])
    if incomplete:
        _say(f"auditkit: {len(incomplete)} resource record(s) could not be read whole, so this answer may miss "
             f"what they publish; first: {incomplete[0]}", err=True)
        return EXIT_FINDINGS
    if unknown:
        _say(f"auditkit: topology of {len(unknown)} subscription(s) could not be read, so this answer is incomplete "
             f"for them: {', '.join(unknown)}", err=True)
        return EXIT_FINDINGS
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from auditkit.history.timeline import load_history
    from auditkit.present.tickets import as_frame, ocsf, ticket_records
    from auditkit.settings import load_settings
    from auditkit.settings.controls import load_controls

    settings = load_settings(args.parameters)
    h = load_history(args.snapshots, settings=settings, verify=not args.no_verify)
    names = dict(zip(h.subscriptions["subscription_id"], h.subscriptions["name"], strict=False))
    recs = ticket_records(h, load_controls(args.parameters), names, since=args.since, reports=args.reports)
    as_of = h.snapshots["as_of"].iloc[-1]
    if args.format == "csv":
        text = to_csv(as_frame(recs))
    elif args.format == "ocsf":
        text = to_json({"ocsf_version": "1.8.0", "class": "Detection Finding (2004)", "findings": ocsf(recs, as_of)})
    else:
        text = to_json({"as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "findings": recs})
    _write(text, args.output)
    return EXIT_OK


def cmd_guardrail(args: argparse.Namespace) -> int:
    from auditkit.present.policy_files import write_guardrail

    for path in write_guardrail(args.guardrail_out, args.port, args.effect):
        _say(f"wrote {path}")
    return EXIT_OK


def _first_error(errors) -> str:
    e = errors.iloc[0]
    where = e["nsg_id"] + (f" rule {e['rule_name']}" if e["rule_name"] else "")
    return f"{where}: {e['field']}: {e['message']}"


class _Progress:
    """A progress bar on a terminal (pages, rows, subscriptions); silent when stderr is not a TTY."""

    def __init__(self) -> None:
        self.bar = None
        self.rows = self.pages = self.failed = 0
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit=" subs", desc="collect", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, event: str, **info) -> None:
        if self.bar is None:
            return
        if event == "subscriptions":
            self.bar.reset(total=info["total"])
        elif event == "page":
            self.pages += 1
            self.rows += info["rows"]
        elif event == "batch":
            self.failed += info.get("failed", 0)
            self.bar.update(info["done"])
        self.bar.set_postfix(pages=self.pages, rows=self.rows, failed=self.failed, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_collect(args: argparse.Namespace) -> int:
    from auditkit.collect import collect, collect_from_file
    from auditkit.evidence.snapshot import open_snapshot

    if args.from_file:
        path = collect_from_file(args.from_file, snapshots_dir=args.snapshots, as_of=args.as_of,
                                 subscriptions=args.subscription or None, allow_empty=args.allow_empty)
    else:
        from auditkit.collect.credentials import credential

        progress = _Progress()
        try:
            path = collect(credential(args.auth, args.cloud), subscriptions=args.subscription or None,
                           management_groups=args.management_group or None, cloud=args.cloud,
                           endpoint=args.endpoint, snapshots_dir=args.snapshots, as_of=args.as_of,
                           batch_size=args.batch_size, progress=progress, allow_empty=args.allow_empty,
                           topology=not args.no_topology)
        finally:
            progress.close()
    snap = open_snapshot(path)
    args.snapshot_written = snap
    meta = snap.meta
    counts = meta["counts"]
    _say(f"snapshot {path}: {counts['subscriptions']} subscriptions, {counts['nsgs']} NSGs, "
          f"{counts['rules']} rules; sha256 {snap.hash}")
    req = meta.get("requests")
    if req:
        _say(f"requests: {req['requests']} (minimum {req['minimum_requests']}; {req['pages']} pages, "
              f"{req['retries_429']} retries after 429, {req['quota_waits']} quota waits, "
              f"{req['waited_seconds']:.1f} s waited)")
        if req.get("subscription_limit_hit"):
            _say("warning: management-group scope hit the service's 10,000-subscription limit; "
                  "name subscriptions explicitly to collect the rest", err=True)
    failed = snap.failed
    for f in failed:
        _say(f"auditkit: subscription {f['subscription_id']} failed: {f.get('status')} {f.get('code')}: "
              f"{f.get('message')}", err=True)
    if counts.get("record_errors"):
        _say(f"auditkit: {counts['record_errors']} unreadable NSG records (listed in meta.json)", err=True)
    return EXIT_FINDINGS if failed else EXIT_OK


def _warn_unreadable(unreadable) -> None:
    for u in unreadable:
        _say(f"auditkit: snapshot folder {u.name} skipped: {u.reason}", err=True)


def cmd_snapshots(args: argparse.Namespace) -> int:
    from auditkit.evidence.snapshot import scan_folder

    snaps, unreadable = scan_folder(args.snapshots)
    if not snaps and not unreadable:
        _say(f"no snapshots in {getattr(args, 'snapshots_named', None) or args.snapshots}")
        return EXIT_OK
    for u in unreadable:
        _say(f"{u.name}  UNREADABLE  {u.reason}")
    bad = len(unreadable)
    for snap in snaps:
        problems = snap.verify()
        c = snap.meta.get("counts", {})
        state = "ok" if not problems else "CHANGED"
        _say(f"{snap.id}  as_of {snap.meta.get('as_of')}  subs {c.get('subscriptions', '?'):>5}  "
              f"failed {c.get('failed_subscriptions', 0):>3}  nsgs {c.get('nsgs', '?'):>7}  "
              f"rules {c.get('rules', '?'):>8}  {state}  {snap.hash[:16]}")
        for p in problems:
            _say(f"  {snap.id}: {p}", err=True)
        bad += bool(problems)
    return EXIT_FINDINGS if bad else EXIT_OK


def cmd_kpis(args: argparse.Namespace) -> int:
    from auditkit.history.kpis import kpis
    from auditkit.settings import load_settings

    settings = load_settings(args.parameters)
    k = kpis(args.snapshots, ports=args.ports, settings=settings, as_of=args.as_of, verify=not args.no_verify)
    for u in k["unreadable_snapshots"]:
        _say(f"auditkit: snapshot folder {u['snapshot']} skipped: {u['reason']}", err=True)
    if args.format == "json":
        _write(to_json(k), None)
        return EXIT_OK
    lines = [f"KPIs as of {k['as_of']} over {k['snapshots']} snapshots (since {k['first_snapshot']})", ""]
    lines.append("open findings          " + "  ".join(f"port {p}: {n}" for p, n in k["open_findings"].items()))
    lines.append("NSGs with open findings " + "  ".join(f"port {p}: {n}" for p, n in
                                                         k["nsgs_with_open_findings"].items()))
    lines.append(f"attached / latent      {k['attached_open_findings']} / {k['latent_open_findings']}")
    lines.append(f"resolved               {k['resolved_findings']}   reopened {k['reopened_findings']}   "
                 f"unknown {k['unknown_findings']}")
    mttr = "n/a (nothing resolved)" if k["mttr_days"] is None else f"{k['mttr_days']} days"
    lines.append(f"MTTR                   {mttr}")
    age = k["open_age_days"]
    lines.append(f"open age (days)        median {age['median']}   max {age['max']}")
    rate = "n/a (one snapshot)" if k["new_findings_per_week"] is None else k["new_findings_per_week"]
    lines.append(f"new findings per week  {rate}")
    t = k["tag_coverage"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    lines.append(f"tag coverage ({t['nsgs']} NSGs)  owner {pct(t['owner'])}   expiry {pct(t['expiry'])}   "
                 f"expired {pct(t['expired'])}   justification {pct(t['justification'])}")
    lines.append(f"production rules documented  {pct(t['production_rules_documented'])} "
                 f"of {t['production_rules']}")
    if k["invalid_expiry"]:
        lines.append(f"unparseable expiry dates ({len(k['invalid_expiry'])}, counted as missing):")
        lines.extend(f"  {e['nsg_id']}: {e['value']!r}" for e in k["invalid_expiry"][:20])
        if len(k["invalid_expiry"]) > 20:
            lines.append(f"  ... {len(k['invalid_expiry']) - 20} more (see --format json)")
    if k["unread_subscriptions"]:
        lines.append(f"not read in the latest snapshot ({len(k['unread_subscriptions'])}; their findings are "
                     "unknown, never fixed):")
        lines.extend(f"  {u['name']} ({u['subscription_id']}): last read {u['last_read'] or 'never'}; {u['reason']}"
                     for u in k["unread_subscriptions"])
    if not k["snapshot_hashes_checked"]:
        lines.append("snapshot hashes not checked (--no-verify)")
    _say("\n".join(lines))
    return EXIT_OK


def _render_progress():
    """A progress bar on a terminal: reports done, failed, time left (tqdm's ETA); silent otherwise."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=None, unit=" reports", desc="render", file=sys.stderr, dynamic_ncols=True)
    failed = [0]

    def update(outcome, done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
            bar.update(done)
        else:
            bar.update(1)
        failed[0] += not outcome.ok
        bar.set_postfix(failed=failed[0], refresh=True)

    return update, bar.close


def _render(args: argparse.Namespace, period: str | None) -> int:
    from auditkit.render import RenderRequest, render

    update, close = _render_progress()
    try:
        result = render(RenderRequest(
            snapshots_dir=args.snapshots, out=args.out, period=period, subscriptions=args.subscription,
            workers=args.workers, parameters_file=args.parameters, flowlogs=args.flowlogs,
            notebooks=getattr(args, "notebooks", None), verify=not getattr(args, "no_verify", False),
            allow_partial=getattr(args, "allow_partial", False), sign_key=getattr(args, "sign_key", None),
            pdf=getattr(args, "pdf", False), progress=update,
            assets=getattr(args, "assets", "inline"), keep_notebooks=not getattr(args, "no_notebooks", False),
            cluster=getattr(args, "cluster", None)))
    finally:
        close()
    args.render_result = result
    _warn_unreadable(result.unreadable)
    for note in result.notes:
        _say(f"auditkit: {note}", err=True)
    for p in result.removed_stale:
        _say(f"auditkit: removed {p.name}, left behind by a render that was stopped", err=True)
    ok = [o for o in result.outcomes if o.ok]
    for f in result.failures:
        cell = f"cell {f.error.get('cell')}" if f.error.get("cell") is not None else "set-up"
        evalue = str(f.error.get("evalue", "")).splitlines()[0] if f.error.get("evalue") else ""
        _say(f"auditkit: report {f.name} failed at {cell}: {f.error.get('ename')}: {evalue}", err=True)
    signed = "; signed (manifest.json.sig)" if result.signed else ""
    manifest = f"{result.url}/manifest.json" if result.url else result.manifest
    if result.swapped:
        state = " (PARTIAL: swapped in with failures, --allow-partial)" if result.partial else ""
        _say(f"rendered {result.where}: {len(ok)} reports, {len(result.failures)} failed{state}; manifest "
             f"{manifest} (sha256 {result.manifest_sha256}){signed}")
    else:
        period = f"{result.url.rsplit('/', 1)[0]}/{period_name(result)}" if result.url else \
            result.folder.parent / period_name(result)
        _say(f"auditkit: {len(result.failures)} report(s) failed: {period} was left untouched; this attempt is "
             f"kept in {result.where} (manifest sha256 {result.manifest_sha256}){signed}", err=True)
    return EXIT_FINDINGS if result.failures else EXIT_OK


def period_name(result) -> str:
    return result.folder.name.split(".failed-")[0]


def cmd_render(args: argparse.Namespace) -> int:
    return _render(args, args.period)


def cmd_verify(args: argparse.Namespace) -> int:
    from auditkit.errors import InputError
    from auditkit.evidence.storage import is_url, plain_path
    from auditkit.render.manifest import manifest_sha256, verify

    args.folder = plain_path(args.folder)
    folder = _local_copy(args.folder) if is_url(args.folder) else args.folder  # a URL's period: its local copy
    try:
        problems = verify(folder, expect_sha256=args.expect_sha256, public_key=args.public_key)
    except InputError as exc:
        raise InputError(str(exc).replace(str(folder), str(args.folder))) from None
    _say(f"{args.folder}: manifest.json sha256 {manifest_sha256(folder)}")
    for p in problems:
        _say(f"{args.folder}: {p}")
    if not problems:
        checks = ["every file matches the manifest"]
        if args.expect_sha256:
            checks.append("the manifest is the one expected")
        if args.public_key:
            checks.append("the signature is valid")
        _say(f"{args.folder}: {'; '.join(checks)}")
    return EXIT_FINDINGS if problems else EXIT_OK


def cmd_monthly(args: argparse.Namespace) -> int:
    """Collect, then render the period the new snapshot closes: run early in a month (by the 7th),
    that is the month that just ended."""
    from auditkit.history.period import period_of

    args.from_file = getattr(args, "from_file", None)
    collected = cmd_collect(args)
    period = args.period or period_of(args.snapshot_written.as_of)
    rendered = _render(args, period)
    if args.notify:
        _notify(args, period)
    return max(collected, rendered)


def _notify(args: argparse.Namespace, period: str) -> None:
    """Post the run's summary to ``--notify``; a failure is said on stderr and never fails the run."""
    from auditkit.history.kpis import kpis_of
    from auditkit.history.timeline import load_history
    from auditkit.render.notify import payload, post, summary
    from auditkit.settings import load_settings

    result = args.render_result
    from auditkit.evidence.storage import readable

    try:
        h = load_history(readable(args.snapshots), settings=load_settings(args.parameters))
    except AuditkitError as exc:  # the reports are there: a summary that cannot be made never fails the run
        _say(f"auditkit: notification to {args.notify} not sent: {exc}", err=True)
        return
    t = h.timeline[h.timeline["snapshot"] == h.snapshots["snapshot"].iloc[-1]]
    s = summary(kpis_of(h), {"new": int(t["new"].sum()), "resolved": int(t["resolved"].sum())}, period,
                result.where, result.manifest_sha256, len(result.failures))
    problem = post(args.notify, payload(s, args.notify_format))
    if problem:
        _say(f"auditkit: notification to {args.notify} failed ({problem}); the reports are in {result.where}",
             err=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from auditkit.demo.flows import ensure_flow_logs
    from auditkit.demo.tenant import build_snapshots, demo_parameters

    out = Path(args.demo_out) if args.demo_out else default_folder("reports") / "demo"
    snaps = build_snapshots(out / "snapshots")
    flowlogs = ensure_flow_logs(out / "flowlogs")
    args.snapshots, args.out, args.subscription = str(snaps), str(out), None
    args.parameters, args.flowlogs = demo_parameters(), str(flowlogs)
    code = _render(args, None)
    from auditkit.render import default_period

    index = out / default_period(snaps) / "index.html"
    # The governance loop on the demo: tickets out (OCSF) and the SMTP guardrail, beside the reports.
    args.format, args.since, args.reports, args.no_verify = "ocsf", None, str(out), False
    args.output = str(out / "exports" / "findings.ocsf.json")
    (out / "exports").mkdir(parents=True, exist_ok=True)
    cmd_export(args)
    args.guardrail_out, args.port, args.effect = str(out / "guardrails"), 25, "Audit"
    cmd_guardrail(args)
    _say(f"tickets: {args.output}; guardrail: {args.guardrail_out}")
    if index.is_file():
        _say(f"open {index} in a browser")
    return code


def cmd_init(args: argparse.Namespace) -> int:
    from auditkit.settings import init_folder

    created, kept = init_folder(args.folder)
    for p in created:
        _say(f"created {p}")
    for p in kept:
        _say(f"left alone (already there) {p}")
    _say(f"audit folder ready: {Path(args.folder).resolve()}; next steps in its README.md")
    return EXIT_OK


def cmd_flows(args: argparse.Namespace) -> int:
    from auditkit.engine.scan import scan
    from auditkit.evidence.snapshot import is_snapshot, list_snapshots, open_snapshot
    from auditkit.flows.logs import read_paths
    from auditkit.flows.sources import evidence_for, nsg_guids
    from auditkit.settings import load_settings

    snap_path = Path(args.snapshot) if args.snapshot else default_folder("snapshots")
    if not is_snapshot(snap_path):
        snaps = list_snapshots(snap_path)
        if not snaps:
            raise AuditkitError(f"{snap_path}: neither a snapshot nor a folder of snapshots")
        snap_path = snaps[-1].path
    snap = open_snapshot(snap_path, verify=not args.no_verify)
    result = scan(snap, ports=(args.port,))
    guids = nsg_guids(snap.table("nsgs"))
    cred = None
    if any(str(p).startswith("https://") for p in args.paths):
        from auditkit.collect.credentials import credential

        cred = credential(args.auth, args.cloud)
    settings = load_settings(args.parameters)
    logs = read_paths(args.paths, credential=cred, max_file_mb=settings.max_file_mb)
    found = evidence_for(result.findings, logs.flows, settings, guids)
    if args.format == "json":
        text = to_json({"findings": found, "skipped": logs.skipped, "snapshot": snap.id, "flows": len(logs.flows)})
    elif args.format == "csv":
        import pandas as pd

        rows = [{"nsg_id": f["nsg_id"], "rule_name": f["rule_name"], "port": f["port"],
                 "recommendation": f["recommendation"], "proposed_prefixes": f["proposed_prefixes"], **s}
                for f in found for s in (f["sources"] or [{}])]
        text = to_csv(pd.DataFrame(rows))
    else:
        lines = [f"{len(logs.flows)} flows read; findings on port {args.port} in snapshot {snap.id}: {len(found)}"]
        for f in found:
            classes: dict = {}
            for s in f["sources"]:
                classes[s["class"]] = classes.get(s["class"], 0) + 1
            lines.append("")
            lines.append(f"{f['nsg_name']} / {f['rule_name']} (port {f['port']}): {f['recommendation'].upper()}")
            lines.append("  sources seen: " + (", ".join(f"{n} {c}" for c, n in sorted(classes.items())) or "none"))
            lines.append(f"  flow logs: {observed(f['observed'])}")
            if f["proposed_prefixes"]:
                lines.append("  proposed: " + " ".join(f["proposed_prefixes"]))
            lines.append(f"  {f['note']}")
            if f["command"]:
                lines.append(f"  {f['command']}")
        bad = {k: v for k, v in logs.skipped.items() if any(v.values())}
        if bad:
            lines.append("")
            lines.append(f"skipped in {len(bad)} files: "
                         f"{sum(1 for v in bad.values() if v['file_skipped'])} files not read, "
                         f"{sum(v['incomplete_records'] for v in bad.values())} incomplete records, "
                         f"{sum(v['unreadable_records'] for v in bad.values())} unreadable records, "
                         f"{sum(v['malformed_tuples'] for v in bad.values())} malformed tuples (see --format json)")
            lines.extend(f"  {k}: {v['file_skipped']}" for k, v in list(bad.items())[:20] if v["file_skipped"])
        text = "".join(visible(line) + "\n" for line in lines)
    _write(text, None)
    return EXIT_OK


def observed(o: dict) -> str:
    """The days of flow logs an NSG has, and the gaps in them, in a line."""
    if not o.get("days"):
        return "none for this NSG"
    gaps = ", ".join(a if a == b else f"{a}..{b}" for a, b in o["gaps"][:5]) + (" ..." if len(o["gaps"]) > 5 else "")
    return f"{o['days']} day(s) from {o['first']} to {o['last']}" + (f"; gaps {gaps}" if gaps else "; no gap")


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what and where), exit 2, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {visible(message)} (see {self.prog} --help)\n")


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 1 to 1024")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"port {text!r} is not a whole number from 0 to 65535")
    return int(text)


def _period(text: str) -> str:
    from auditkit.history.period import parse_period

    try:
        parse_period(text)
    except AuditkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="auditkit", description="Audit Azure NSG rules that expose "
                                     "SMTP (25), SSH (22) and RDP (3389) to the internet.")
    parser.add_argument("--version", action="version", version=f"auditkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("scan", help="list internet-exposed rules in an NSG export")
    p.add_argument("path", help="a snapshot directory, or an export: Resource Graph (list or {data}), ARM ({value}) "
                   "or az network nsg list")
    p.add_argument("--ports", type=_ports, default=None, help="comma-separated ports (default: from the settings, "
                   "25,22,3389 as shipped)")
    p.add_argument("--parameters", metavar="FILE", help="settings file (default: the audit folder's parameters/audit.yaml)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.add_argument("--include-shadowed", action="store_true", help="also list rules hidden by earlier Deny rules")
    p.add_argument("--fail-on-findings", action="store_true", help="exit with 1 when any finding exists")
    p.add_argument("--fail-on", choices=SEVERITIES, metavar="SEVERITY",
                   help="exit with 1 when a finding of this severity or worse exists (critical, high, medium, low)")
    p.add_argument("--exposure", action=argparse.BooleanOptionalAction, default=None,
                   help="effective exposure from the input's topology (default: on when the input has topology)")
    p.add_argument("--allow-empty", action="store_true", help="accept an input with no NSG at all (otherwise an "
                   "error: an empty export is not a clean tenant)")
    p.add_argument("--no-verify", action="store_true", help="do not check snapshot files against their meta.json (faster; reports then say "
                   "'snapshot hashes not checked')")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("export", help="one record per finding for a ticketing system (stable ids; upsert)")
    p.add_argument("--snapshots", default=None, metavar="DIR", help=SNAPSHOTS_HELP)
    p.add_argument("--format", choices=["csv", "json", "ocsf"], default="json")
    p.add_argument("--since", metavar="YYYY-MM", type=_period, default=None,
                   help="also list findings resolved since the start of this period (default: the latest one)")
    p.add_argument("--reports", default="reports", metavar="PATH", help="where the rendered reports live, for the "
                   "evidence links (default: reports)")
    p.add_argument("--parameters", metavar="FILE", help="settings file (default parameters/audit.yaml)")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.add_argument("--no-verify", action="store_true", help="do not check snapshot files against their meta.json")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("guardrail", help="write an Azure Policy (JSON and Bicep, with az commands) that audits or "
                                         "denies NSG rules opening a port to the internet")
    p.add_argument("--port", type=_port, default=25, help="TCP port (default 25)")
    p.add_argument("--effect", choices=["Audit", "Deny", "Disabled"], default="Audit")
    p.add_argument("--out", dest="guardrail_out", default="guardrails", metavar="DIR",
                   help="folder for the files (default: guardrails)")
    p.set_defaults(func=cmd_guardrail)

    p = sub.add_parser("reach", help="what the internet reaches on a port now: VMs, public IPs, frontend ports, "
                                     "and the NSG rules that let the traffic in")
    p.add_argument("snapshot", help="a snapshot directory (or an export that carries topology)")
    p.add_argument("--port", type=_port, default=25, help="TCP port (default 25)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.add_argument("--no-verify", action="store_true", help="do not check snapshot files against their meta.json")
    p.set_defaults(func=cmd_reach)

    from auditkit.collect.clouds import CLOUD_NAMES
    from auditkit.collect.credentials import AUTH_METHODS

    def collect_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--subscription", action="append", metavar="ID", help="a subscription to collect "
                       "(repeatable); default: every subscription the identity can read")
        p.add_argument("--management-group", action="append", metavar="ID", help="discover subscriptions in this "
                       "management group (repeatable)")
        p.add_argument("--cloud", choices=CLOUD_NAMES, default="public")
        p.add_argument("--endpoint", help="ARM base URL override (private clouds); the token scope still follows "
                       "--cloud")
        p.add_argument("--auth", choices=AUTH_METHODS, default="default",
                       help="credential: default (DefaultAzureCredential), cli, managed-identity, workload-identity, "
                            "environment; scheduled runs should use workload-identity or managed-identity")
        p.add_argument("--snapshots", default=None, metavar="DIR", help=SNAPSHOTS_HELP)
        p.add_argument("--batch-size", type=int, default=300, help="subscriptions per request (1-1000, default 300)")
        p.add_argument("--no-topology", action="store_true", help="collect NSGs only, not the NICs, subnets, public "
                       "IPs and load balancers that decide effective exposure (findings then say unknown-topology)")
        p.add_argument("--allow-empty", action="store_true", help="accept a scope with no NSG (or no subscription) "
                       "at all; otherwise that is an error, never a clean tenant")

    p = sub.add_parser("collect", help="collect NSGs from Azure Resource Graph (or an export) into a snapshot")
    collect_options(p)
    p.add_argument("--from-file", metavar="EXPORT.json", help="import a saved export instead of querying Azure")
    p.add_argument("--as-of", help="the date the data describes (ISO date or timestamp; default: now)")
    p.set_defaults(func=cmd_collect)

    def render_options(p: argparse.ArgumentParser, period: bool = True) -> None:
        p.add_argument("--out", default=None, metavar="DIR", help="reports folder, or a storage URL (default: the audit folder's "
                       "reports/, else ./reports)")
        p.add_argument("--notebooks", metavar="DIR", help="report notebooks to run instead of those the kit ships")
        if period:
            p.add_argument("--period", metavar="YYYY-MM", type=_period,
                           help="the month to report (default: the latest snapshot's)")
        p.add_argument("--workers", type=_workers, default=None, help="parallel report workers (default: CPU cores)")
        p.add_argument("--parameters", metavar="FILE", help="settings file (default parameters/audit.yaml)")
        p.add_argument("--flowlogs", metavar="PATH", help="NSG/VNet flow logs (files or folders) for the "
                       "'analyze before you restrict' section")
        p.add_argument("--no-verify", action="store_true", help="do not check snapshot files against their "
                       "meta.json (faster; reports then say 'snapshot hashes not checked')")
        p.add_argument("--allow-partial", action="store_true", help="swap the period in even when some reports "
                       "failed (the manifest says partial); otherwise the previous period stays and the attempt "
                       "is kept beside it")
        p.add_argument("--sign-key", metavar="KEY", help="an Ed25519 private key (OpenSSH or PEM): write a detached "
                       "signature of the manifest (manifest.json.sig)")
        p.add_argument("--pdf", action="store_true", help="also print <subscription-id>.pdf and index.pdf with the "
                       "machine's headless Chromium (listed in the manifest)")
        p.add_argument("--assets", choices=("inline", "shared"), default="inline",
                       help="inline (default): plotly.js inside every report, each one file; shared: written once "
                       "into <period>/assets/ (hashed in the manifest) and loaded by relative path, for large tenants")
        p.add_argument("--cluster", metavar="ADDRESS", help="run the reports on this Dask scheduler "
                       "(tcp://host:8786) instead of local workers; snapshots and --out must be on storage every "
                       "worker sees at the same path")
        p.add_argument("--no-notebooks", action="store_true", help="keep only the HTML (and PDF) reports, not the "
                       "executed .ipynb beside each (kept by default, as evidence)")

    p = sub.add_parser("render", help="render one HTML report per subscription plus the tenant overview")
    p.add_argument("--snapshots", default=None, metavar="DIR", help=SNAPSHOTS_HELP)
    p.add_argument("--subscription", action="append", metavar="ID", help="only these subscriptions (repeatable)")
    render_options(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("verify", help="re-hash a rendered period against its manifest")
    p.add_argument("folder", help="reports/<period>")
    p.add_argument("--expect-sha256", metavar="HASH", help="the manifest's SHA-256 you kept when the period was "
                   "rendered: the manifest must be that one")
    p.add_argument("--public-key", metavar="KEY", help="an Ed25519 public key (OpenSSH or PEM): the manifest's "
                   "signature (manifest.json.sig) must verify with it")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("monthly", help="collect, then render the period that just ended (for cron / CI)")
    collect_options(p)
    p.add_argument("--as-of", help=argparse.SUPPRESS)
    p.add_argument("--from-file", metavar="EXPORT.json", help="import a saved export instead of querying Azure")
    p.add_argument("--notify", metavar="URL", help="post a short summary to this webhook when done (a failing "
                   "webhook is reported, never fails the run)")
    p.add_argument("--notify-format", choices=["json", "slack", "teams"], default="json",
                   help="the webhook's payload: plain JSON summary, or a Slack / Teams message")
    render_options(p)
    p.set_defaults(func=cmd_monthly)

    p = sub.add_parser("init", help="make a folder an audit folder: notebooks, settings, snapshots/, reports/")
    p.add_argument("folder", nargs="?", default=".", help="the folder (default: the working directory)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("demo", help="build the demo tenant (no Azure needed) and render its reports")
    p.add_argument("--out", dest="demo_out", default=None, metavar="DIR",
                   help="default: reports/demo of the audit folder, else ./reports/demo")
    p.add_argument("--workers", type=_workers, default=None)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("kpis", help="KPIs over the snapshots: open findings, MTTR, tag coverage")
    p.add_argument("--snapshots", default=None, metavar="DIR", help=SNAPSHOTS_HELP)
    p.add_argument("--ports", type=_ports, default=None, help="comma-separated ports (default from parameters)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--as-of", help="only snapshots taken at or before this date")
    p.add_argument("--no-verify", action="store_true", help="do not check snapshot files against their meta.json (faster; reports then say "
                   "'snapshot hashes not checked')")
    p.add_argument("--parameters", metavar="FILE", help="settings file (default parameters/audit.yaml)")
    p.set_defaults(func=cmd_kpis)

    p = sub.add_parser("flows", help="flow-log evidence per finding: who connects, what to allow instead")
    p.add_argument("paths", nargs="+", metavar="PATH", help="flow-log files or folders (an export of the "
                   "insights-logs-* containers), or https://<account>.blob.core.windows.net URLs")
    p.add_argument("--snapshot", default=None, metavar="DIR", help="a snapshot, or a folder of them (the latest is "
                   "used; default: the audit folder's snapshots/)")
    p.add_argument("--port", type=_port, default=25)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--parameters", metavar="FILE", help="settings file (mail gateways, thresholds)")
    p.add_argument("--auth", choices=AUTH_METHODS, default="default", help="credential for storage account URLs")
    p.add_argument("--cloud", choices=CLOUD_NAMES, default="public")
    p.add_argument("--no-verify", action="store_true", help="do not check snapshot files against their meta.json (faster; reports then say "
                   "'snapshot hashes not checked')")
    p.set_defaults(func=cmd_flows)

    p = sub.add_parser("snapshots", help="list snapshots with their counts and verify their hashes")
    p.add_argument("--snapshots", default=None, metavar="DIR", help=SNAPSHOTS_HELP)
    p.set_defaults(func=cmd_snapshots)
    return parser


def _terminate(signum: int, frame: object) -> None:
    # A scheduler's SIGTERM unwinds like Ctrl-C, so that temporary folders are removed.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import signal

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _folders(args)
        return args.func(args)
    except AuditkitError as exc:
        _say(f"auditkit: error: {exc}", err=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _say("auditkit: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (auditkit scan ... | head): say nothing more on a closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USAGE
    except OSError as exc:
        where = exc.filename or "the output"
        _say(f"auditkit: error: {where}: {exc.strerror or exc}", err=True)
        return EXIT_USAGE
    except RecursionError:
        _say("auditkit: error: an input is nested too deeply to read", err=True)
        return EXIT_USAGE
    except MemoryError:
        _say("auditkit: error: an input is too large for this machine's memory", err=True)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, the traceback on request
        if os.environ.get("AUDITKIT_DEBUG"):
            raise
        _say(f"auditkit: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
             "(a bug in auditkit: run again with AUDITKIT_DEBUG=1 for the traceback and report it)", err=True)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
