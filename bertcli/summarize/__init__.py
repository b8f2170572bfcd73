"""The summary pipeline: candidate sentences -> embeddings -> selection -> `Summary`.

`bertcli.summarize` is also the public function `summarize(text, ...)`: this package is
callable, so that `from bertcli import summarize` keeps meaning the function that the API has
always offered, while the pipeline lives in a package of the same name.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .summarizer import summarize

        return summarize(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
