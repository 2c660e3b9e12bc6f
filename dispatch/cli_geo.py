"""`rescue geo …` and `rescue route` commands (filled in by the geo work)."""

from __future__ import annotations

import typer

geo_app = typer.Typer(help="Road network: import, coverage.", no_args_is_help=True)
