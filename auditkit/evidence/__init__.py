"""Evidence: what a collection leaves on disk (immutable snapshots) and how NSG records are read
from any export shape. Everything after this stage reads snapshots, never Azure."""
