"""Links in a message: click tracking, the open pixel, and a text part from HTML.

Every ``http(s)`` link of the HTML ``href`` attributes and of the text part is replaced by
a signed redirect ``{public_url}/email/click/{token}`` whose token carries the link's
index in the message's link list; the list is stored with the send, so a redirect can
only lead to a link that was in that message. Links to the hub itself (unsubscribe,
survey answers) are left alone.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_TEXT_URL = re.compile(r"""https?://[^\s<>"'\]\)]+""")
_TRAILING = ".,;:!?"
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class LinkTable:
    """The message's distinct tracked links, in first-seen order."""

    def __init__(self, own_prefix: str, tracked_url: Callable[[int], str]) -> None:
        self.own_prefix = own_prefix
        self.tracked_url = tracked_url
        self.urls: list[str] = []
        self._index: dict[str, int] = {}
        self._tracked: list[str] = []

    def track(self, url: str) -> str:
        """The redirect that replaces ``url`` (``url`` itself when it is not tracked)."""
        if not url.lower().startswith(("http://", "https://")) or url.startswith(self.own_prefix):
            return url
        index = self._index.get(url)
        if index is None:
            index = self._index[url] = len(self.urls)
            self.urls.append(url)
            self._tracked.append(self.tracked_url(index))
        return self._tracked[index]

    def rewrite_html(self, markup: str) -> str:
        """``markup`` with tracked ``href`` values."""
        def replace(match: re.Match[str]) -> str:
            url = htmllib.unescape(match.group(3).strip())
            tracked = self.track(url)
            if tracked == url:
                return match.group(0)
            return f"{match.group(1)}{match.group(2)}{htmllib.escape(tracked)}{match.group(2)}"

        return _HREF.sub(replace, markup)

    def rewrite_text(self, text: str) -> str:
        """``text`` with tracked URLs."""
        def replace(match: re.Match[str]) -> str:
            url = match.group(0)
            tail = ""
            while url and url[-1] in _TRAILING:
                url, tail = url[:-1], url[-1] + tail
            return self.track(url) + tail

        return _TEXT_URL.sub(replace, text)


def add_pixel(markup: str, url: str) -> str:
    """``markup`` with a 1×1 open pixel before ``</body>`` (or at the end)."""
    pixel = f'<img src="{htmllib.escape(url)}" width="1" height="1" alt="" style="display:none">'
    match = None
    for match in _BODY_END.finditer(markup):
        pass
    if match is None:
        return markup + pixel
    return markup[: match.start()] + pixel + markup[match.start():]


_DROP = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_ANCHOR = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*(["'])(.*?)\1[^>]*>(.*?)</a\s*>""", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<br\s*/?>|</(p|div|h[1-6]|li|tr|table|blockquote)\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def html_to_text(markup: str) -> str:
    """A readable plain-text version of an HTML body (links as ``label (url)``)."""
    text = _DROP.sub("", markup)

    def anchor(match: re.Match[str]) -> str:
        label = _TAG.sub("", match.group(3)).strip()
        url = match.group(2).strip()
        return f"{label} ({url})" if label and label != url else url

    text = _ANCHOR.sub(anchor, text)
    text = _BREAK.sub("\n", text)
    text = htmllib.unescape(_TAG.sub("", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    collapsed: list[str] = []
    for line in lines:
        if line or (collapsed and collapsed[-1]):
            collapsed.append(line)
    return "\n".join(collapsed).strip() + "\n"
