"""The report's Jinja2 templates (``templates/``), loaded once: HTML autoescaped, Markdown made inert by a filter."""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"


def inert(x: Any) -> str:
    """User text as inert Markdown: HTML escaped (renderers that allow raw HTML run it), pipes and emphasis too."""
    text = escape(str(x), quote=False).replace("\n", " ")
    for ch in "\\`*_[]|#!":  # < and > are already entities
        text = text.replace(ch, "\\" + ch)
    return text


@cache
def template(name: str) -> Any:
    """The template ``name``: ``*.html.j2`` autoescapes every value; ``*.md.j2`` escapes through ``|md`` only."""
    import jinja2

    html = name.endswith(".html.j2")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        trim_blocks=not html,
        lstrip_blocks=not html,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = inert
    return env.get_template(name)


@cache
def asset(name: str) -> str:
    """A file kept beside the templates (the page's CSS), inlined at build time: the report is one file."""
    return (TEMPLATES / name).read_text(encoding="utf-8")
