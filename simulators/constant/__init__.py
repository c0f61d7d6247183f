"""A simulator of constant values: test inputs, held setpoints, and the benchmark's bare mosaik baseline."""
