"""The small HTML pages behind the links in emails (no JavaScript, no external assets)."""

from __future__ import annotations

from markupsafe import Markup, escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} a.answer{{display:inline-block;min-width:2em;padding:6px;margin:2px;border:1px solid #888;
border-radius:4px;text-align:center;text-decoration:none}}</style>
</head><body><h1>{title}</h1>{body}</body></html>
"""


def page(title: str, body: Markup | str) -> str:
    """A complete page; ``body`` is escaped unless it is Markup."""
    return _PAGE.format(title=escape(title), body=escape(body) if not isinstance(body, Markup) else body)


def unsubscribed(sender: str) -> str:
    """Shown after an unsubscribe (by link or by the form)."""
    return page("You are unsubscribed", Markup(
        "<p>You will no longer receive marketing email from <strong>{}</strong> at this address.</p>"
        "<p>Messages already on their way may still arrive during the next few minutes.</p>"
    ).format(sender))


def invalid() -> str:
    """Shown for a tampered, forged or expired link."""
    return page("This link is not valid", Markup(
        "<p>The link may have been cut or changed. Please use the link from the email itself.</p>"))


def answered(question: str, value: int, answers: list[tuple[int, str]]) -> str:
    """Shown after a survey answer, with links to change it."""
    links = Markup("").join(Markup('<a class="answer" href="{}">{}</a>').format(url, v) for v, url in answers)
    return page("Thank you for your answer", Markup(
        "<p>{}</p><p>You answered <strong>{}</strong>. Changed your mind? Click another answer:</p><p>{}</p>"
    ).format(question, value, links))
