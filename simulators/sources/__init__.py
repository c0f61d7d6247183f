"""The sources simulator."""
