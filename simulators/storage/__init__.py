"""The storage simulator."""
