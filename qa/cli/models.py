"""`qa models`: check the packaged models and prepare the generator ahead of the first
question, so that no answer waits for a conversion."""

from __future__ import annotations

from typing import Annotated

import typer

from qa.cli.options import settings_for

app = typer.Typer(help="Prepare the packaged offline models.", no_args_is_help=True)


@app.command("prepare")
def models_prepare(
    generator: Annotated[
        str | None, typer.Option(help="Generator to prepare [default: $QA_GENERATOR or fast].")
    ] = None,
) -> None:
    """Verify the packaged models and prepare the generator once in the cache (its GGUF
    file for llama.cpp, or a converted folder for transformers, with its OpenVINO prompt
    reader where that is on)."""
    from qa.models.embedders import embedder_folder
    from qa.models.registry import prepare_generator, prompt_reader

    settings = settings_for(generator=generator)
    auto = settings.embedder == "auto"
    for spec in ("minilm", "e5-multilingual") if auto else (settings.embedder,):
        name, embedder_path = embedder_folder(spec)
        typer.echo(f"embedder {name}: {embedder_path}")
    path = prepare_generator(settings.generator, settings.cache_dir, settings.generator_backend)
    typer.echo(f"generator {settings.generator}: {path}")
    if settings.generator_backend == "transformers" and not settings.generator_url:
        reader = prompt_reader(
            path,
            settings.cache_dir,
            prefill=settings.generator_prefill,
            dtype=settings.generator_dtype,
            threads=settings.threads,
        )  # exported and compiled once, into the cache
        if reader is not None:
            typer.echo(f"prompt reader (OpenVINO): {reader.folder}")
