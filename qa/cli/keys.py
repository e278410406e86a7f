"""`qa keys`: API keys for `qa serve`, managed on the machine that holds the catalogue
(the HTTP API cannot create the first key: there would be nothing to authorise it)."""

from __future__ import annotations

from typing import Annotated

import typer

from qa.cli.options import AsJson, IndexDir, settings_for
from qa.cli.output import emit
from qa.errors import InvalidInputError

app = typer.Typer(
    help="API keys for `qa serve`: once one exists, every /v1 request needs one.",
    no_args_is_help=True,
)


@app.command("create")
def keys_create(
    collections: Annotated[
        str, typer.Option(help="Comma-separated collections the key may use, or '*' for all.")
    ],
    role: Annotated[
        str,
        typer.Option(
            help="reader (search, ask), writer (+ upload and delete documents, create "
            "collections) or admin (+ delete collections)."
        ),
    ] = "reader",
    name: Annotated[str, typer.Option(help="A label for the key, e.g. who holds it.")] = "",
    index_dir: IndexDir = None,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    from qa.catalogue import ROLES, Catalogue

    if role not in ROLES:
        raise InvalidInputError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    catalogue = Catalogue(settings_for(index_dir).catalogue_location)
    key, token = catalogue.create_key(name, role, collections.split(","))
    typer.echo(token)
    typer.echo(
        f"key {key.id} ({key.role}, collections: {', '.join(key.collections)}); "
        "store it now, it is not shown again",
        err=True,
    )


@app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `qa keys list`).")],
    index_dir: IndexDir = None,
) -> None:
    """Revoke a key at once: the next request made with it gets 401."""
    from qa.catalogue import Catalogue

    if not Catalogue(settings_for(index_dir).catalogue_location).revoke_key(key_id):
        raise InvalidInputError(f"no active key {key_id!r}")
    typer.echo(f"revoked {key_id}")


@app.command("list")
def keys_list(index_dir: IndexDir = None, as_json: AsJson = False) -> None:
    """Every key with its role, scope and state (never the key itself)."""
    from qa.catalogue import Catalogue

    keys = Catalogue(settings_for(index_dir).catalogue_location).keys()
    if as_json:
        emit([k.to_dict() for k in keys])
        return
    for k in keys:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        typer.echo(f"{k.id}  {k.role:<6}  {','.join(k.collections):<30}  {state}  {k.name}")
