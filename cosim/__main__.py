"""``python -m cosim`` is the `cosim` command."""

from cosim.cli.app import app

app(prog_name="cosim")
