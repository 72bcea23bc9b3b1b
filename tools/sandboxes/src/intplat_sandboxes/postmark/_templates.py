"""Pre-seeded templates for `/email/withTemplate`, rendered with a mustache subset.

Supported: `{{ name }}` and dotted paths `{{ user.name }}` (HTML-escaped in HtmlBody), and
`{{{ name }}}` (never escaped). Missing values render as empty strings, as in Postmark.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._validation import INCOMPATIBLE_JSON, INVALID_REQUEST, TEMPLATE_NOT_FOUND, PostmarkError

_PLACEHOLDER = re.compile(r"\{\{\{\s*([\w.]+)\s*\}\}\}|\{\{\s*([\w.]+)\s*\}\}")
_TEMPLATE_KEYS = ("TemplateId", "TemplateAlias", "TemplateModel", "InlineCss")
FIRST_TEMPLATE_ID = 1000


@dataclass(frozen=True)
class Template:
    template_id: int
    alias: str
    subject: str | None
    html_body: str | None
    text_body: str | None


def _lookup(model: Mapping[str, Any], path: str) -> Any:
    value: Any = model
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(text: str | None, model: Mapping[str, Any], *, escape: bool) -> str | None:
    if text is None:
        return None

    def substitute(match: re.Match[str]) -> str:
        raw_path, path = match.group(1), match.group(2)
        value = _text(_lookup(model, raw_path or path))
        return html.escape(value) if escape and raw_path is None else value

    return _PLACEHOLDER.sub(substitute, text)


class TemplateRegistry:
    def __init__(self, templates: Mapping[str, Mapping[str, Any]]) -> None:
        self._by_alias: dict[str, Template] = {}
        self._by_id: dict[int, Template] = {}
        for index, (alias, spec) in enumerate(templates.items()):
            template_id = spec.get("TemplateId", FIRST_TEMPLATE_ID + index)
            template = Template(
                template_id=int(template_id),
                alias=alias,
                subject=spec.get("Subject"),
                html_body=spec.get("HtmlBody"),
                text_body=spec.get("TextBody"),
            )
            self._by_alias[alias] = template
            self._by_id[template.template_id] = template

    def __len__(self) -> int:
        return len(self._by_alias)

    def resolve(self, data: Mapping[str, Any]) -> Template:
        template_id, alias = data.get("TemplateId"), data.get("TemplateAlias")
        if (template_id is None) == (alias is None):
            raise PostmarkError(INVALID_REQUEST, "Provide either 'TemplateId' or 'TemplateAlias' (exactly one).")
        template = self._by_id.get(template_id) if isinstance(template_id, int) else self._by_alias.get(str(alias))
        if template is None:
            shown = template_id if template_id is not None else alias
            raise PostmarkError(TEMPLATE_NOT_FOUND, f"The template '{shown}' was not found.")
        return template

    def expand(self, data: Any) -> tuple[dict[str, Any], Template, dict[str, Any]]:
        """Turn a templated message into a plain one: returns (message, template, model)."""
        if not isinstance(data, dict):
            raise PostmarkError(INCOMPATIBLE_JSON, "Expected a JSON object describing one templated message.")
        template = self.resolve(data)
        model = data.get("TemplateModel")
        if model is None:
            raise PostmarkError(INVALID_REQUEST, "'TemplateModel' is required.")
        if not isinstance(model, dict):
            raise PostmarkError(INCOMPATIBLE_JSON, "'TemplateModel' must be an object.")
        message = {key: value for key, value in data.items() if key not in _TEMPLATE_KEYS}
        message["Subject"] = render(template.subject, model, escape=False)
        message["HtmlBody"] = render(template.html_body, model, escape=True)
        message["TextBody"] = render(template.text_body, model, escape=False)
        return message, template, model
