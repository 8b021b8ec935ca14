"""Present: HTML blocks and plotly charts for the notebooks, with every untrusted text escaped."""
