"""reStructuredText in blocks: docutils parses it (nothing read from disk, nothing printed), and
the doctree's section titles, paragraphs, list items, literal blocks and table rows become
blocks. Directives and roles that plain docutils does not know (Sphinx's toctree, :meth:, ...)
never fail the read: docutils leaves a system message in their place, which is skipped, and the
user hears once what was skipped."""

from __future__ import annotations

import io
import re

from ..errors import InputError
from ..notices import notice
from .blocks import BlockKind, Converted, TextBuilder, one_line

# Settings that keep docutils off the file system and the terminal: no config files, no
# include or raw directives, no reports on stderr, never a halt on a bad construct.
_SAFE_SETTINGS = {
    "_disable_config": True,
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "report_level": 5,
    "halt_level": 5,
    "traceback": False,
    # sections stay nested as written (the first title is not lifted to a document title,
    # a first field list stays a field list)
    "doctitle_xform": False,
    "docinfo_xform": False,
    "syntax_highlight": "none",
}

_UNKNOWN_DIRECTIVE = re.compile(r'Unknown directive type "([^"]+)"')
_DISABLED_DIRECTIVE = re.compile(r'"([^"]+)" directive disabled')
_UNKNOWN_ROLE = re.compile(r'Unknown interpreted text role "([^"]+)"')
# the raw text of a role docutils does not know (":meth:`Document.add`") and of an undefined
# substitution ("|Document|"): its content is kept as plain text
_ROLE_TEXT = re.compile(r"\A(?::[\w.+:-]+:)?`(.*)`(?::[\w.+:-]+:)?\Z", re.S)
_SUBSTITUTION_TEXT = re.compile(r"\A\|(.+)\|_{0,2}\Z", re.S)
# nodes that hold no text to read: comments, link targets, substitution definitions, ...
_SKIPPED = frozenset({"comment", "target", "substitution_definition", "pending", "transition",
                      "image", "raw", "system_message", "meta", "decoration"})


def rst_document(text: str, source: str) -> Converted:
    """A reStructuredText document's text and blocks."""
    from docutils.core import publish_doctree

    settings = dict(_SAFE_SETTINGS, warning_stream=io.StringIO())
    try:
        doctree = publish_doctree(text, source_path=None, settings_overrides=settings)
    except Exception as err:  # docutils' own failures (deep nesting: RecursionError)
        raise InputError(f"{source}: not readable reStructuredText ({type(err).__name__})") from None
    walker = _Walker()
    try:
        walker.body(doctree, BlockKind.paragraph.value, 0)
    except RecursionError:
        raise InputError(f"{source}: not readable reStructuredText (nested too deeply)") from None
    skipped = walker.skipped_summary()
    if skipped:
        notice(f"{source}: {skipped}")
    return walker.builder.result()


class _Walker:
    """Walks a doctree in document order, writing blocks and noting what docutils skipped."""

    def __init__(self) -> None:
        self.builder = TextBuilder()
        self.directives: set[str] = set()
        self.roles: set[str] = set()
        self.other_messages = 0

    def body(self, node, kind: str, depth: int) -> None:
        """The blocks of `node`'s children; `kind` is what a paragraph among them is, `depth`
        the number of sections around."""
        for child in node.children:
            self.element(child, kind, depth)

    def element(self, node, kind: str, depth: int) -> None:
        name = node.tagname
        if name == "system_message":
            self._note_message(node)
        elif name in _SKIPPED or (name == "topic" and "contents" in node.get("classes", ())):
            return  # (a "contents" topic repeats the section titles)
        elif name == "section":
            self.body(node, BlockKind.paragraph.value, depth + 1)
        elif name == "title":
            if node.parent is not None and node.parent.tagname == "section":
                self.builder.add(one_line(self.inline(node)), BlockKind.heading.value, max(1, depth))
            elif node.parent is not None and node.parent.tagname == "table":
                self.builder.add(one_line(self.inline(node)), BlockKind.caption.value)
            # the titles of topics, sidebars and admonitions: not prose, not a section
        elif name in ("paragraph", "attribution"):
            self.builder.add(one_line(self.inline(node)), kind)  # soft line breaks: spaces
        elif name == "field":  # ":Author: Someone"
            self.builder.add(one_line(": ".join(self.inline(part) for part in node.children)),
                             BlockKind.list_item.value)
        elif name in ("literal_block", "doctest_block", "math_block"):
            self.builder.add(node.astext(), BlockKind.code.value)
        elif name in ("caption", "rubric"):
            self.builder.add(one_line(self.inline(node)), BlockKind.caption.value)
        elif name in ("footnote", "citation"):
            self.body(node, BlockKind.footnote.value, depth)
        elif name == "label":
            return  # a footnote's number
        elif name in ("bullet_list", "enumerated_list", "definition_list", "field_list",
                      "option_list"):
            self.body(node, BlockKind.list_item.value, depth)
        elif name in ("term", "option_list_item"):
            self.builder.add(one_line(self.inline(node)), BlockKind.list_item.value)
        elif name in ("table", "tgroup", "thead", "tbody"):
            self.body(node, kind, depth)
        elif name == "row":
            cells = [one_line(self.inline(entry)) for entry in node.children]
            self.builder.add(" | ".join(cell for cell in cells if cell), BlockKind.table.value)
        elif name == "colspec":
            return
        elif name == "line_block":
            self.builder.add("\n".join(self.inline(line) for line in node.children
                                       if line.tagname == "line"), kind)
        elif hasattr(node, "children") and node.children and not _is_text(node):
            # list items, definitions, block quotes, admonitions, containers, topics, ...
            self.body(node, kind, depth)
        else:
            self.builder.add(self.inline(node), kind)

    def inline(self, node) -> str:
        """The text of an inline element: unknown roles and substitutions as their content,
        footnote and citation references left out."""
        if _is_text(node):
            return str(node)
        name = node.tagname
        if name in ("footnote_reference", "citation_reference", "image", "system_message",
                    "substitution_definition", "target", "comment", "raw"):
            return ""
        if name == "problematic":
            return self._problematic(node)
        parts = [self.inline(child) for child in node.children]
        if name in ("entry", "list_item", "definition", "field_body"):  # several paragraphs
            return " ".join(part for part in parts if part.strip())
        return "".join(parts)

    def _problematic(self, node) -> str:
        raw = node.astext()
        role = _ROLE_TEXT.match(raw)
        if role:
            return role.group(1)
        substitution = _SUBSTITUTION_TEXT.match(raw)
        return substitution.group(1) if substitution else raw

    def _note_message(self, node) -> None:
        if node.get("level", 0) < 2:  # INFO: "trying the English name of a directive"
            return
        message = node.astext()
        unknown = _UNKNOWN_DIRECTIVE.search(message) or _DISABLED_DIRECTIVE.search(message)
        role = _UNKNOWN_ROLE.search(message)
        if unknown:
            self.directives.add(unknown.group(1))
        elif role:
            self.roles.add(role.group(1))
        else:
            self.other_messages += 1

    def skipped_summary(self) -> str:
        """One line on what docutils could not read, or "" when it read everything."""
        parts = []
        if self.directives:
            parts.append("skipped directives that docutils does not know or run here: "
                         + ", ".join(sorted(self.directives)))
        if self.roles:
            parts.append("read unknown roles as plain text: " + ", ".join(sorted(self.roles)))
        if self.other_messages:
            parts.append(f"{self.other_messages} malformed construct(s) read as docutils could")
        return "; ".join(parts)


def _is_text(node) -> bool:
    from docutils import nodes

    return isinstance(node, nodes.Text)
