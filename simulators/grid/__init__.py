"""The grid simulator."""
