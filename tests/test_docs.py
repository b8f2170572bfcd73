"""The documentation cannot drift from the program (issue #31).

- docs/cli.md is exactly what docs/gen_cli.py makes from every command's --help;
- every `$ bertcli ...` line in a ```console block of README.md and docs/tutorial.md runs,
  in-process and offline, with exit code 0 (or the one its `# exit N` comment names), and the
  output lines shown under it appear in its stdout;
- README.md stays short, and every relative link in README.md and docs/*.md names a file
  that exists.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
RUNNABLE = [README, DOCS / "tutorial.md"]
README_MAX_LINES = 250


def _gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_generated_from_the_program():
    fresh = _gen_cli().render()
    on_disk = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert on_disk == fresh, "docs/cli.md differs from the commands' --help: run python docs/gen_cli.py"


def test_openapi_page_is_what_serve_publishes():
    pytest.importorskip("fastapi")
    spec = importlib.util.spec_from_file_location("gen_openapi", DOCS / "gen_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    on_disk = (DOCS / "openapi.json").read_text(encoding="utf-8")
    assert on_disk == module.render(), "docs/openapi.json is stale: run python docs/gen_openapi.py"
    assert set(json.loads(on_disk)["paths"]) == {"/health", "/summarize", "/ask"}


def test_cli_reference_covers_every_command():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for command in ("summarize", "ask", "text", "chat", "serve", "batch summarize", "eval ask",
                    "models pull", "cache clear"):
        assert f"## `bertcli {command}`" in text


class Example:
    def __init__(self, path: Path, line_no: int, command: str):
        self.path, self.line_no, self.command = path, line_no, command
        self.expected: list[str] = []

    def __repr__(self) -> str:
        return f"{self.path.name}:{self.line_no}: $ {self.command}"


def console_examples(path: Path) -> list[Example]:
    """The `$ ...` lines of a file's ```console blocks, each with the lines shown under it."""
    examples: list[Example] = []
    in_block = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            in_block = stripped == "```console" and not in_block
            continue
        if not in_block:
            continue
        if stripped.startswith("$ "):
            examples.append(Example(path, number, stripped[2:]))
        elif stripped and examples:
            examples[-1].expected.append(stripped)
    return examples


def parse(command: str) -> tuple[list[str], str | None, int]:
    """`bertcli ARGS [# exit N]` or `printf 'TEXT' | bertcli ARGS`: (args after bertcli, stdin,
    expected exit code). Anything else is a docs error: the test cannot run it as written."""
    expected_code = 0
    match = re.search(r"\s+#\s*exit\s+(\d+)\s*$", command)
    if match:
        expected_code = int(match.group(1))
        command = command[:match.start()]
    stdin = None
    if command.startswith("printf "):
        head, sep, command = command.partition(" | ")
        assert sep, f"a printf example must pipe into bertcli: {command!r}"
        words = shlex.split(head)
        assert len(words) == 2, f"printf takes one quoted argument here: {head!r}"
        stdin = words[1].encode().decode("unicode_escape")
    words = shlex.split(command)
    assert words and words[0] == "bertcli", f"not a bertcli command: {command!r}"
    assert not {"|", ">", "<", "&&", ";"} & set(words), f"pipes and redirects are not run: {command!r}"
    return words[1:], stdin, expected_code


def unique(examples: list[Example]) -> list[Example]:
    """One run per distinct command (the tutorial repeats some of README's), with every output
    line that any of its places shows."""
    by_command: dict[str, Example] = {}
    for example in examples:
        first = by_command.setdefault(example.command, example)
        if first is not example:
            first.expected += [line for line in example.expected if line not in first.expected]
    return list(by_command.values())


ALL_EXAMPLES = [example for path in RUNNABLE for example in console_examples(path)]
EXAMPLES = unique(ALL_EXAMPLES)


def test_the_runnable_examples_are_found():
    names = {example.path.name for example in ALL_EXAMPLES}
    assert names == {"README.md", "tutorial.md"}
    readme = [example for example in ALL_EXAMPLES if example.path == README]
    assert len(readme) >= 5, "README.md shows five runnable examples"


@pytest.mark.parametrize("example", EXAMPLES, ids=repr)
def test_documented_command_runs(example, run_cli):
    args, stdin, code = parse(example.command)
    needs_model = args[0] in {"summarize", "ask", "chat", "batch", "serve", "eval"}
    if needs_model:
        assert "--offline" in args, f"{example!r}: examples that load a model say --offline"
    result = run_cli(*args, input=stdin)
    assert result.returncode == code, f"{example!r} exited {result.returncode}: {result.err[-2000:]}"
    printed = [line.strip() for line in result.out.splitlines()]
    for line in example.expected:
        assert line in printed, f"{example!r}: the docs show {line!r}, the command printed:\n{result.out[-2000:]}"


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
    return [target for target in LINK.findall(text)
            if not re.match(r"[a-z]+:", target) and not target.startswith("#")]


@pytest.mark.parametrize("path", [README] + sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_relative_links_point_to_files(path):
    missing = []
    for target in relative_links(path):
        file = target.split("#", 1)[0]
        if not (path.parent / file).exists():
            missing.append(target)
    assert not missing, f"{path.relative_to(ROOT)} links to missing files: {missing}"
