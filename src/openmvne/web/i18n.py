"""The portal's languages: Simplified Chinese and English, one small JSON catalogue each.

Every visible string of the portal is a key in `locales/<lang>.json` or in one of the
per-area files `locales/<lang>.<area>.json` (one per group of pages, so each area's strings
live beside each other); a key defined twice for one language is an error. The language is the
visitor's choice (a cookie) or else the browser's Accept-Language; Chinese when neither says.
A DomainError shows the catalogue's `error.<code>` text, or the service's English message.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from openmvne.errors import DomainError

SUPPORTED = ("zh-CN", "en")
DEFAULT = "zh-CN"
FALLBACK = "en"  # where a key is missing in the chosen language
LANG_COOKIE = "openmvne_lang"
LOCALES = Path(__file__).with_name("locales")


@lru_cache(maxsize=len(SUPPORTED))
def catalogue(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    files = [LOCALES / f"{lang}.json", *sorted(LOCALES.glob(f"{lang}.*.json"))]
    for path in files:
        data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        twice = merged.keys() & data.keys()
        if twice:
            raise ValueError(f"{path.name} defines keys already defined: {sorted(twice)}")
        merged.update(data)
    return merged


def _language_of(tag: str) -> str | None:
    primary = tag.strip().split("-")[0].lower()
    if primary == "zh":  # zh, zh-CN, zh-Hans, zh-TW: Simplified Chinese is the one we have
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def negotiate(accept_language: str | None) -> str:
    """The best supported language for an Accept-Language header (RFC 9110 q-values)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        if tag.strip() and quality > 0:
            ranked.append((-quality, position, tag))
    for _, _, tag in sorted(ranked):
        if tag.strip() == "*":
            return DEFAULT
        found = _language_of(tag)
        if found is not None:
            return found
    return DEFAULT


def choose(cookie: str | None, accept_language: str | None) -> str:
    return cookie if cookie in SUPPORTED else negotiate(accept_language)


def translate(lang: str, key: str, **params: Any) -> str:
    text = catalogue(lang).get(key) or catalogue(FALLBACK).get(key) or key
    return text.format(**params) if params else text


def error_text(lang: str, exc: DomainError) -> str:
    """The error in the page's language where the catalogue knows its code."""
    text = catalogue(lang).get(f"error.{exc.code}")
    if text is None:
        return exc.message
    return text.format(**exc.details) if exc.details else text


class Translator:
    """`t("key", name=value)` inside templates and handlers, bound to one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **params: Any) -> str:
        return translate(self.lang, key, **params)

    def error(self, exc: DomainError) -> str:
        return error_text(self.lang, exc)
