"""The bertcli command line (`bertcli = bertcli.cli:main`).

core: the app, errors and exit codes; options: shared choices; documents: summarize, ask,
text; evaluation: eval summarize, eval ask; model_commands: models list, pull;
cache_commands: cache info, clear; chat: chat; serve_commands: serve; batch_commands: batch
summarize, batch index (and ask --index); schema_command: schema.
"""

from . import (  # noqa: F401  (registers the commands)
    batch_commands,
    cache_commands,
    chat,
    documents,
    evaluation,
    model_commands,
    schema_command,
    serve_commands,
)
from .core import app, main, run

__all__ = ["app", "main", "run"]
