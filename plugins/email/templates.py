"""Jinja2 templates of an instance: compiled once, rendered per customer.

Templates run in Jinja's sandbox with ``StrictUndefined``, so a misspelt name fails the
preview (and the pre-flight render of a send) instead of mailing a blank. The HTML part
is autoescaped; the subject and the text part are not. A folder template may
``{% extends %}`` or ``{% include %}`` files from its own folder or the folder above it
(a shared ``layout.html``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from crmhub.core.errors import ConfigError, InputError
from crmhub.plugins.email.settings import EmailSettings, TemplateSettings

FILES = {"subject": "subject.txt", "html": "body.html", "text": "body.txt"}


@dataclass(frozen=True)
class Rendered:
    """One customer's subject and bodies (either body may be None, not both)."""

    subject: str
    html: str | None
    text: str | None


class TemplateRenderError(InputError):
    """A template failed for one customer (an undefined name, a bad filter argument…)."""


@dataclass(frozen=True)
class CompiledTemplate:
    """The compiled parts of one template."""

    name: str
    subject: Template
    html: Template | None
    text: Template | None

    def render(self, context: dict[str, Any]) -> Rendered:
        """Render every part with ``context``.

        :raises TemplateRenderError: naming the template and the problem.
        """
        try:
            subject = " ".join(self.subject.render(context).split())
            html = self.html.render(context) if self.html is not None else None
            text = self.text.render(context) if self.text is not None else None
        except TemplateError as exc:
            raise TemplateRenderError(f"template {self.name!r}: {exc}") from None
        return Rendered(subject=subject, html=html, text=text)


def _environment(autoescape: bool, folder: Path | None) -> SandboxedEnvironment:
    loader = FileSystemLoader([str(folder), str(folder.parent)]) if folder is not None else None
    return SandboxedEnvironment(
        loader=loader, autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True,
    )


def _compile(name: str, spec: TemplateSettings, base: Path, key: str) -> CompiledTemplate:
    folder = None
    sources: dict[str, str | None] = {"subject": spec.subject, "html": spec.html, "text": spec.text}
    if spec.folder is not None:
        folder = Path(spec.folder).expanduser()
        folder = folder if folder.is_absolute() else base / folder
        if not folder.is_dir():
            raise ConfigError(f"{key}.folder: {folder} is not a folder", key=f"{key}.folder")
        sources = {part: (folder / file).read_text("utf-8") if (folder / file).is_file() else None
                   for part, file in FILES.items()}
        if sources["subject"] is None or (sources["html"] is None and sources["text"] is None):
            raise ConfigError(f"{key}.folder: {folder} needs subject.txt and body.html and/or body.txt",
                              key=f"{key}.folder")
    plain, markup = _environment(False, folder), _environment(True, folder)
    compiled: dict[str, Template | None] = {}
    for part, source in sources.items():
        try:
            compiled[part] = None if source is None else (markup if part == "html" else plain).from_string(source)
        except TemplateError as exc:
            raise ConfigError(f"{key}.{part}: {exc}", key=f"{key}.{part}") from None
    assert compiled["subject"] is not None
    return CompiledTemplate(name=name, subject=compiled["subject"], html=compiled["html"], text=compiled["text"])


class TemplateSet:
    """Every template of one instance, compiled.

    :param settings: the instance's settings.
    :param base: folder that relative template folders start from.
    :param prefix: the instance's configuration key, for error messages.
    :raises ConfigError: a missing folder or a template that does not compile.
    """

    def __init__(self, settings: EmailSettings, *, base: Path, prefix: str) -> None:
        self._templates = {
            name: _compile(name, spec, base, f"{prefix}.templates.{name}")
            for name, spec in settings.templates.items()
        }

    def get(self, name: str) -> CompiledTemplate:
        """The compiled template ``name``."""
        return self._templates[name]
