"""District heating studies on top of the co-simulation: the eco-district case A/B comparison of
the urban-planning study, its cost and emission accounting, a Paris-like weather year and the
heat-network figure (docs/heat_network.md)."""
