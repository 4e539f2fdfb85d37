"""The ``credit-scoring`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="Credit-scoring platform: data, features, training, local stack and scoring.",
                  no_args_is_help=True)


def main() -> None:
    app()
