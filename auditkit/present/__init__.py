"""Present: HTML blocks and plotly charts for the notebooks, report sections, and what the notebooks
call (``present.notebook``); every untrusted text is escaped."""
