"""`qa serve`: the HTTP API and web page under uvicorn, refusing to expose documents
to the network without an API key."""

from __future__ import annotations

from typing import Annotated

import typer

from qa.cli.options import IndexDir, settings_for
from qa.errors import InvalidInputError


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    index_dir: IndexDir = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web page.

    On any address but loopback it refuses to start until an API key exists
    (`qa keys create`); on loopback without keys it runs open and says so."""
    import ipaddress

    import uvicorn

    from qa.api.app import create_app
    from qa.catalogue import Catalogue

    settings = settings_for(index_dir)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if (
        not loopback
        and not Catalogue(
            settings.catalogue_location, owner=settings.instance_name
        ).has_active_keys()
    ):
        raise InvalidInputError(
            f"refusing to serve on {host} without an API key: anyone on the network could "
            "read the documents. Create one with `qa keys create --collections '*' "
            "--role admin`, or bind to 127.0.0.1"
        )
    uvicorn.run(create_app(settings, open_allowed=loopback), host=host, port=port, log_level="info")
