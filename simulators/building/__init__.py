"""The building simulator."""
