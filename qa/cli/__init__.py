"""The `qa` command line. Contract: ../shared/DESIGN.md (extend, never break).

One module per command or command group; this one assembles them and turns the typed
errors into one `error: ...` line and an exit status. Every command imports what is
heavy (stores, models, the API) inside itself, so `qa --help` and an unchanged
re-ingest start in a fraction of a second."""

from __future__ import annotations

import logging
import sys

import typer

from qa.cli import ask, chat, ingest, search, serve
from qa.cli.eval import app as eval_app
from qa.cli.index import app as index_app
from qa.cli.keys import app as keys_app
from qa.cli.models import app as models_app
from qa.errors import QAError

app = typer.Typer(
    help="Offline question answering over your documents, with cited passages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(ingest.ingest)
app.command()(search.search)
app.command()(ask.ask)
app.command()(chat.chat)
app.command()(serve.serve)
app.add_typer(keys_app, name="keys")
app.add_typer(index_app, name="index")
app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        app()
    except QAError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
