"""``credit-scoring card VERSION``: write a registered version's model card (Markdown and HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.commands._settings import fail, tracking_uri, training_settings

__all__ = ["card_command"]


def card_command(
    version: Annotated[str, typer.Argument(help="Version of the registered model (CREDIT_MODEL_NAME).")],
    out: Annotated[Path, typer.Option(help="Folder for the card's .md and .html.")] = Path("."),
) -> None:
    """Build the model card of VERSION from the registry and write it to OUT."""
    from credit_scoring.errors import RegistryUnavailable
    from governance.model_card import model_card

    settings = training_settings()
    try:
        with tracking_uri(settings) as uri:
            card = model_card(uri, settings.model_name, version)
    except RegistryUnavailable as exc:
        raise fail(str(exc)) from exc
    md, page = card.write(out)
    typer.echo(f"{md}\n{page}")
