"""Message bodies as a safe markdown subset, rendered on the server.

markdown-it parses with raw HTML off (a `<script>` in a body stays text), and nh3 (Ammonia)
then keeps only a small allow-list of tags and attributes, links only to http(s) and mailto,
each with rel="nofollow noopener noreferrer". Images are not rendered: a body cannot make the
reader's browser fetch anything.
"""

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

MAX_CHARS = 100_000

TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h3", "h4", "h5", "h6",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}

_parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).disable(
    ["image", "html_block", "html_inline"]
)


def render_markdown(text: str | None) -> Markup:
    """Sanitised HTML for a message body (plain text reads as plain paragraphs)."""
    source = (text or "")[:MAX_CHARS]
    html = _parser.render(source)
    # headings stay small inside a thread: # and ## read as ###
    html = html.replace("<h1>", "<h3>").replace("</h1>", "</h3>")
    html = html.replace("<h2>", "<h3>").replace("</h2>", "</h3>")
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above
