"""The question-answering pipeline: index -> plan passages -> read -> choose (-> verify).

`bertcli.ask` is also the public function `ask(question, document, ...)`: this package is
callable, so that `from bertcli import ask` keeps meaning the function that the API has always
offered, while the pipeline lives in a package of the same name.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .asker import ask

        return ask(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
