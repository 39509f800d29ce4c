"""Markdown to the HTML subset Qt's rich text understands, with highlighted, monospace code blocks."""

from __future__ import annotations

import html
from functools import lru_cache

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

CODE_BG = "#111318"
CODE_FG = "#e6e6e6"
_FORMATTER = HtmlFormatter(nowrap=True, noclasses=True, style="monokai")


@lru_cache(maxsize=64)
def _lexer(lang: str):
    try:
        return get_lexer_by_name(lang) if lang else TextLexer()
    except ClassNotFound:
        return TextLexer()


def _fence(_renderer, tokens, idx, options, env) -> str:
    token = tokens[idx]
    lang = token.info.strip().split()[0] if token.info.strip() else ""
    body = highlight(token.content.rstrip("\n"), _lexer(lang.lower()), _FORMATTER).rstrip("\n")
    # Qt's rich text ignores most CSS on <pre>; a one-cell table gives the block its background and padding.
    label = f'<div style="color:#8a93a6; font-size:small;">{html.escape(lang)}</div>' if lang else ""
    return (
        f'<table width="100%" cellpadding="10" cellspacing="0" style="margin-top:4px; margin-bottom:6px;" '
        f'bgcolor="{CODE_BG}"><tr><td>{label}'
        f'<pre style="font-family:\'DejaVu Sans Mono\',Menlo,Consolas,monospace; color:{CODE_FG}; margin:0; white-space:pre-wrap;">'
        f"{body}</pre></td></tr></table>"
    )


def _inline_code(_renderer, tokens, idx, options, env) -> str:
    return (
        '<code style="font-family:\'DejaVu Sans Mono\',Menlo,Consolas,monospace; background-color:#2a2f3a; '
        f'color:#f0c674;">&nbsp;{html.escape(tokens[idx].content)}&nbsp;</code>'
    )


def _image(renderer, tokens, idx, options, env) -> str:
    """An image in a reply becomes a link with its description: the view must not load a file the model names."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{html.escape(src)}">{html.escape(alt)}</a>'


# "html": False makes raw HTML in a reply ("<img src=x onerror=…>", "<b>") come out escaped, shown as typed.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("table").enable("strikethrough")
_md.add_render_rule("fence", _fence)
_md.add_render_rule("code_block", _fence)
_md.add_render_rule("code_inline", _inline_code)
_md.add_render_rule("image", _image)


def to_html(markdown: str) -> str:
    """Render a reply. Unclosed code fences (mid-stream) render as code, which is what the reader expects."""
    return _md.render(markdown)
