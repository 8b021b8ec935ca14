"""History: findings across snapshots (first seen, resolved, reopened, unknown), the KPIs, tag
coverage and reporting periods, with a derived cache so that history stays fast."""
