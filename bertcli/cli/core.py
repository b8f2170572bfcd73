"""The bertcli command line: the Typer app, one-line errors and exit codes, the entry point.

Only light modules are imported here; torch and transformers load inside commands, so that
`bertcli --help` and usage errors stay fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ..read.document import Document

from .. import __version__
from ..errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    BertcliError,
    InputError,
    UsageError,
)
from .options import Device, Format, InputFormat  # noqa: F401  (re-exported)


def _usage_name(argument) -> str:
    """An argument as the usage line shows it, the way every Unix tool does: `INPUTS...`,
    `[CHOICE]` (typer 0.29 writes `{inputs}...`, which reads like shell brace expansion)."""
    name = argument.metavar or argument.name.upper()
    if not argument.required and not name.startswith("["):
        name = f"[{name}]"
    return name if argument.nargs == 1 or name.rstrip("]").endswith("...") else name + "..."


if hasattr(typer.core.TyperArgument, "_usage_display_name"):
    typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[attr-defined,assignment]

app = typer.Typer(
    name="bertcli",
    help="Run pretrained BERT-family models on documents: extractive summaries and answers.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    # plain click-style help: no "<bool>" beside flags, and quick to print
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
models_app = typer.Typer(help="List, locate and download models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
eval_app = typer.Typer(help="Measure quality on labelled data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
cache_app = typer.Typer(help="What bertcli keeps on disk: fast model copies, document indexes.",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def error(message: str) -> None:
    print(f"bertcli: error: {message}", file=sys.stderr)


def note(message: str) -> None:
    from ..notices import notice

    notice(message)


def _apply_quiet() -> None:
    """--quiet, given to the command or before it (`bertcli --quiet summarize …`)."""
    get_current_context = _click_parts()[1]
    ctx = get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("quiet"):
            from ..notices import set_quiet

            set_quiet(True)
            return
        ctx = ctx.parent


def run_guarded(body: Callable[[], int], verbose: bool) -> None:
    """Run a command body: one-line errors, documented exit codes, tracebacks only on --verbose."""
    try:
        _apply_quiet()
        _check_unused_model()
        code = body()
    except BertcliError as err:
        if verbose:
            traceback.print_exc()
        error(err.message)
        code = err.exit_code
    except KeyboardInterrupt:
        print("bertcli: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    except OSError as err:
        if verbose:
            traceback.print_exc()
        if not _is_stdout_error(err):
            error(f"unexpected {type(err).__name__}: {err} (rerun with --verbose for details)")
            code = EXIT_FAILURE
        else:
            code = _output_error(err)
    except Exception as err:  # a bug: say so in one line unless asked for details
        if verbose:
            traceback.print_exc()
        error(f"unexpected {type(err).__name__}: {err} (rerun with --verbose for details)")
        code = EXIT_FAILURE
    raise typer.Exit(code)


def _is_stdout_error(err: OSError) -> bool:
    """An OSError that came from writing to stdout (full disk, closed descriptor)."""
    import errno

    return err.errno in (errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT, errno.EFBIG)


def _check_unused_model() -> None:
    """`ask --retrieval-only --model M` loads no reader, but an unusable explicit model is
    still the documented error (exit 4), not silently ignored."""
    ctx = _click_parts()[1](silent=True)
    params = ctx.params if ctx is not None else {}
    if params.get("retrieval_only") and params.get("model"):
        from ..models import check_explicit_model

        check_explicit_model(params["model"])


def documents(sources: list[str], encoding: str | None, max_bytes: int | None,
              failed: list[str], input_format: InputFormat | None = None,
              progress=None) -> Iterator[Document]:
    """Read each source in turn. With several, a bad one is reported, noted in `failed` and
    skipped, so the others are still processed; a single bad source is the command's error.
    `progress` (bertcli.progress) hears of the pages read, and of each file once it is done
    with (when the caller takes the next one)."""
    from ..read.document import STDIN, read_document
    from ..read.fetch import is_url

    if sources.count(STDIN) > 1:
        raise UsageError("stdin (-) can be read only once")
    offline = _offline_option()
    for number, source in enumerate(sources):
        if number and progress is not None and len(sources) > 1:
            progress("files", 1, len(sources))
        try:
            if offline and is_url(source):
                raise InputError(f"{source}: not downloaded: --offline (or HF_HUB_OFFLINE=1) "
                                 "never uses the network")
            yield read_document(source, encoding=encoding, max_bytes=max_bytes,
                                input_format=input_format.value if input_format else None,
                                progress=progress)
        except InputError as err:
            if len(sources) == 1:
                raise
            error(err.message)
            failed.append(source)
    if progress is not None and len(sources) > 1:
        progress("files", 1, len(sources))


def check_output_path(path: str | None) -> None:
    """Fail now, before any work, if `path` (an output file to write later) cannot be written."""
    if path:
        from ..files import check_writable

        check_writable(path)


def _click_parts():
    """click's exceptions module and get_current_context: typer >= 0.26 vendors click as
    typer._click; earlier versions use click itself."""
    try:
        from typer._click import exceptions
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions, get_current_context  # type: ignore[no-redef]
    return exceptions, get_current_context


def _offline_option() -> bool:
    """Whether the running command has --offline set (or HF_HUB_OFFLINE=1): then URL inputs
    are refused, since --offline never uses the network."""
    from ..models import offline_requested

    ctx = _click_parts()[1](silent=True)
    if ctx is None or "offline" not in ctx.params:
        return False
    return offline_requested(bool(ctx.params["offline"]))


def _version(value: bool) -> None:
    if value:
        print(f"bertcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", help="No notices on stderr for any command (also: BERTCLI_QUIET=1)."
    ),
) -> None:
    """Run pretrained BERT-family models on documents: extractive summaries and answers."""


def _usage_line(err) -> str:
    """A click usage error as bertcli's one line: the message, then where help is."""
    from .usage_errors import usage_message

    message = usage_message(err) or " ".join(err.format_message().split())
    ctx = getattr(err, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"{message}{where}"


def _standard_streams() -> bool:
    """Make closed standard streams safe. A closed stderr (`2>&-`) becomes /dev/null, so
    notices never land in stdout; a closed stdout (`>&-`) is an output error. Returns
    whether stdout is usable."""
    if sys.stderr is None:
        try:
            sys.stderr = open(os.devnull, "w", encoding="utf-8")
        except OSError:
            pass
    if sys.stdout is None:
        return False
    return True


def _output_error(err: OSError) -> int:
    """stdout cannot be written (closed, full disk, /dev/full): one line, exit 74."""
    reason = err.strerror or type(err).__name__
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
    except (OSError, ValueError, AttributeError):
        pass
    error(f"cannot write the output to stdout ({reason})")
    return EXIT_OUTPUT


def _broken_pipe_exit(done: SystemExit) -> bool:
    """typer (click's EPIPE handling) and rich (Console.on_broken_pipe) end with exit 1 when
    the reader of stdout goes away, e.g. while printing --help; bertcli's code for that is 141."""
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":
        return True
    tb = done.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == "on_broken_pipe"


def run(args: list[str] | None = None) -> int:
    """Run the command line on `args` (default: sys.argv[1:]) and return the exit code,
    without ending the process. See `main`.

    Usage errors are one line (`bertcli: error: ...`, exit 2); a reader that goes away is exit
    141 and an unwritable stdout exit 74, whatever was running (`--help | head -1` too)."""
    from ..languages import new_run

    new_run()  # warnings said "once per run" are said again in a new run (in one process)
    exceptions = _click_parts()[0]
    code: int | str | None = EXIT_FAILURE
    if not _standard_streams():
        error("stdout is closed; nothing can be written (redirect it to a file or /dev/null)")
        return EXIT_OUTPUT
    try:
        try:
            code = app(args=args, standalone_mode=False)
        except exceptions.NoArgsIsHelpError as err:  # plain `bertcli`: the help, on stderr
            err.show()
            code = err.exit_code
        except exceptions.UsageError as err:
            error(_usage_line(err))
            code = err.exit_code
        except exceptions.ClickException as err:
            error(" ".join(err.format_message().split()))
            code = err.exit_code
        except (typer.Abort, KeyboardInterrupt, EOFError):
            print("bertcli: interrupted", file=sys.stderr)
            code = EXIT_INTERRUPTED
        except typer.Exit as done:
            code = done.exit_code
        except SystemExit as done:
            code = done.code
            if _broken_pipe_exit(done):
                raise BrokenPipeError from None
        if not isinstance(code, int):
            if code is not None:
                print(code, file=sys.stderr)
            code = EXIT_FAILURE if code is not None else 0
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`--help | head -1`)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        code = EXIT_BROKEN_PIPE
    except OSError as err:  # stdout full (/dev/full) or unwritable
        code = _output_error(err)
    except ValueError:  # stdout already closed
        code = code or EXIT_BROKEN_PIPE
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return code if isinstance(code, int) else EXIT_FAILURE


def main() -> None:
    """The console entry point. Ends the process without Python's interpreter teardown, which
    takes ~0.3 s once ONNX Runtime, spaCy and numpy are loaded (every file's output is written
    and flushed by then; a shell loop over many files pays it on every call)."""
    os._exit(run())
