"""``python -m cosim`` is the `cosim` command."""

from cosim.cli import app

app(prog_name="cosim")
