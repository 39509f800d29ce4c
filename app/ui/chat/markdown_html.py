"""Markdown to the HTML subset Qt's rich text understands, with highlighted, monospace code blocks.

Each code block gets a "Copy" link (`hearth-copy:N`); the view that shows the HTML copies `code_blocks[N]`, the
block's code exactly as the model wrote it: no language tag, no highlighting, no line numbers.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

COPY_SCHEME = "hearth-copy"
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
    code = token.content.rstrip("\n")
    blocks = env.setdefault("code_blocks", [])
    blocks.append(code)
    body = highlight(code, _lexer(lang.lower()), _FORMATTER).rstrip("\n")
    copy = (
        f'<a href="{COPY_SCHEME}:{len(blocks) - 1}" style="color:#8a93a6; text-decoration:none;" '
        f'title="Copy this code">Copy</a>'
    )
    # Qt's rich text ignores most CSS on <pre>; a table gives the block its background and padding, and a header
    # row for the language and the Copy link.
    return (
        f'<table width="100%" cellpadding="0" cellspacing="0" style="margin-top:4px; margin-bottom:6px;" '
        f'bgcolor="{CODE_BG}"><tr>'
        f'<td style="padding:6px 10px 0 10px; color:#8a93a6; font-size:small;">{html.escape(lang)}</td>'
        f'<td align="right" style="padding:6px 10px 0 10px; font-size:small;">{copy}</td></tr>'
        f'<tr><td colspan="2" style="padding:4px 10px 10px 10px;">'
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


@dataclass(frozen=True)
class Rendered:
    html: str
    code_blocks: tuple[str, ...]  # the code of each block, in order: what its "Copy" link copies


def render(markdown: str) -> Rendered:
    """Render a reply. Unclosed code fences (mid-stream) render as code, which is what the reader expects."""
    env: dict = {}
    text = _md.render(markdown, env)
    return Rendered(text, tuple(env.get("code_blocks", ())))


def to_html(markdown: str) -> str:
    return render(markdown).html
