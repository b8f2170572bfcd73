"""The bertcli command line (`bertcli = bertcli.cli:main`).

core: the app, errors and exit codes; options: shared choices; documents: summarize, ask,
text; evaluation: eval summarize, eval ask; model_commands: models list, pull;
batch_commands: batch summarize, batch index (and ask --index).
"""

from . import batch_commands, documents, evaluation, model_commands  # noqa: F401  (registers the commands)
from .core import app, main, run

__all__ = ["app", "main", "run"]
