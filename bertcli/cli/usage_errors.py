"""click's usage errors in bertcli's words: one line that names the option and what it wants.

typer words a bad integer "Input should be a valid integer, unable to parse string as an
integer" and a bad choice "Value error, 'x' is not one of ...": the library's own checks say
"--strategy x: choose one of ...", and the command line says it the same way.
"""

from __future__ import annotations

import re

_CHOICES = re.compile(r"'([^']*)' is not one of (.*?)\.?$")


def _param_name(param) -> str:
    """`-n/--num-sentences` for an option, `INPUTS` for an argument."""
    if param is None:
        return "a value"
    if getattr(param, "param_type_name", "") == "argument":
        return (param.metavar or param.name.upper()).rstrip(".")
    opts = sorted(param.opts, key=len)
    return "/".join(opts)


def usage_message(err) -> str:
    """The one-line message for a click UsageError (without the "(see --help)" hint)."""
    kind = type(err).__name__
    message = " ".join(str(err.message or "").split())
    param = getattr(err, "param", None)
    if kind == "MissingParameter":
        if getattr(param, "param_type_name", "") == "argument":
            return f"missing {_param_name(param)}"
        return f"missing option {_param_name(param)}"
    if kind == "NoSuchOption":
        close = [p for p in (getattr(err, "possibilities", None) or []) if p]
        hint = f" (did you mean {' or '.join(close[:3])}?)" if close else ""
        return f"unknown option {err.option_name}{hint}"
    if kind == "BadOptionUsage" and "requires an argument" in message:
        return f"{err.option_name} needs a value"
    if kind == "BadParameter":
        name = _param_name(param)
        choices = _CHOICES.search(message)
        if choices:
            allowed = ", ".join(c.strip(" '") for c in choices.group(2).split(","))
            return f"{name} {choices.group(1)}: choose one of {allowed}"
        if "valid integer" in message:
            return f"{name} wants a whole number"
        if "valid number" in message:
            return f"{name} wants a number"
        return f"{name}: {message[0].lower() + message[1:] if message else 'invalid value'}"
    if kind == "UsageError" and message.startswith("No such command"):
        return message.replace("No such command", "no such command").rstrip(".")
    return message
