"""Assets, grouped as they read in the asset graph: market_data → features → training →
registry."""
