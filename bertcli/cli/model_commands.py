"""`models list` and `models pull`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    pass


from .core import models_app, note, run_guarded
from .options import (
    FORMAT_OPT,
    QUIET_OPT,
    VERBOSE_OPT,
    Format,
)


@models_app.command("list")
def models_list(
    fmt: Format = FORMAT_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Default models: whether each is cached, where, and its size. Never uses the network."""

    def body() -> int:
        from ..models import inventory
        from ..render import Sink

        def cells(row) -> list[str]:
            size = f"{row['size_bytes'] / 1e6:.0f} MB" if row["size_bytes"] else "-"
            return [row["model"], row["role"], "yes" if row["cached"] else "no", size, row["path"] or "-"]

        Sink(fmt.value).table(["model", "used by", "cached", "size", "path"], inventory(), cells)
        return 0

    run_guarded(body, verbose)


@models_app.command("default")
def models_default(
    choice: str | None = typer.Argument(
        None, metavar="[bundled|hub]",
        help="bundled: use bertcli's bundled models when none is named, with no notice; "
             "hub: the hub's default models, the bundled ones only as an announced fallback. "
             "Without it, print the current choice.",
    ),
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Choose which models commands use when none is named (also: BERTCLI_MODELS=bundled|hub)."""

    def body() -> int:
        from ..models import models_preference, set_models_preference

        if choice is None:
            value, source = models_preference()
            print(f"{value}\t({source})")
            return 0
        path = set_models_preference(choice.strip().lower())
        note(f"default models: {choice.strip().lower()} (saved in {path})")
        return 0

    run_guarded(body, verbose)


@models_app.command("pull")
def models_pull(
    model_id: str = typer.Argument(..., help="Hub id to download into the local cache."),
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Download a model into the local Hugging Face cache for later offline use. A model
    already cached is checked (SHA-256 of every file) and downloaded again if damaged."""

    def body() -> int:
        from ..checksums import MANIFEST, verify_model, write_manifest
        from ..errors import ModelError
        from ..models import cached_snapshot, download, hub_status

        cached = cached_snapshot(model_id)
        problem = verify_model(cached, full=True) if cached is not None else None
        if cached is not None and problem is None:
            if not (cached / MANIFEST).exists():  # pulled by another tool: recorded from now on
                write_manifest(cached)
            note(f"{model_id} is already cached at {cached}")
            print(cached)
            return 0
        if problem is not None:
            note(f"the cached copy of {model_id} is damaged ({problem}); downloading it again")
        status = hub_status(model_id)
        if status == "missing":
            raise ModelError(f"{model_id}: no such model on the hub (or it is private)")
        if status == "unreachable":
            raise ModelError(f"{model_id}: the model hub cannot be reached (no network?)")
        print(download(model_id, force=problem is not None))
        return 0

    run_guarded(body, verbose)
