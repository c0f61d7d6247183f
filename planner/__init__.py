"""The offline energy-hub planner: sizing and dispatch under price policies, and the plans it exports."""
