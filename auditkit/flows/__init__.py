"""Flows: NSG and VNet flow logs read in bulk, per-finding evidence of who really connects, and
the remediation proposed from it (Analyze before you Restrict)."""

from auditkit.flows.logs import FlowLogs, read_flow_logs, read_paths
from auditkit.flows.sources import classify, evidence_for, match_flows, nsg_guids, summarise_sources

__all__ = ["FlowLogs", "read_paths", "read_flow_logs", "evidence_for", "match_flows", "summarise_sources", "classify",
           "nsg_guids"]
