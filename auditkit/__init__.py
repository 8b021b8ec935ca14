"""auditkit: find Azure NSG rules that expose critical ports to the internet, and keep the evidence."""

__version__ = "0.1.0"

from auditkit.scan import DEFAULT_PORTS, ScanResult, scan  # noqa: E402

__all__ = ["__version__", "DEFAULT_PORTS", "ScanResult", "scan"]
