"""The message catalogues and language negotiation (no server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openmvne.domain.channels import AuthorisationStatus, ChannelLevel
from openmvne.domain.identity import IdType
from openmvne.domain.parties import Role
from openmvne.domain.sims import CardState
from openmvne.domain.subscribers import LineState
from openmvne.errors import InvalidInput
from openmvne.web import i18n

WEB = Path(i18n.__file__).parent
# t("key") in templates and Python; dynamic keys ("state." ~ s) are checked by enum below.
USED = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-zA-Z0-9_.]+)["']""")


def test_both_catalogues_have_the_same_keys() -> None:
    assert set(i18n.catalogue("en")) == set(i18n.catalogue("zh-CN"))


def test_every_key_the_portal_uses_is_in_the_catalogue() -> None:
    sources = [*WEB.rglob("*.html"), *WEB.glob("*.py")]
    used = {key for path in sources for key in USED.findall(path.read_text(encoding="utf-8"))}
    assert len(used) > 100
    known = set(i18n.catalogue("en"))
    # `t("care.status." ~ value)`: a prefix completed at render time; it must name a family
    # of keys (the enum tests below check the families are complete).
    prefixes = {key for key in used if key.endswith(".")}
    assert {p for p in prefixes if not any(k.startswith(p) for k in known)} == set()
    assert used - prefixes - known == set()


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("state.", [s.value for s in LineState]),
        ("card.", [s.value for s in CardState]),
        ("level.", [s.value for s in ChannelLevel]),
        ("status.", [s.value for s in AuthorisationStatus]),
        ("role.", [r.value for r in Role]),
        ("idtype.", [i.value for i in IdType]),
    ],
)
def test_every_state_shown_has_a_name(prefix: str, values: list[str]) -> None:
    assert {prefix + v for v in values} <= set(i18n.catalogue("zh-CN"))


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("zh-TW", "zh-CN"),
        ("de-DE, en;q=0.5", "en"),
        ("zh;q=0.4, en;q=0.6", "en"),
        ("en;q=0, zh;q=0.1", "zh-CN"),
        ("fr", "zh-CN"),
        ("*", "zh-CN"),
        ("", "zh-CN"),
        (None, "zh-CN"),
        ("en;q=bad, zh", "zh-CN"),
    ],
)
def test_accept_language(header: str | None, lang: str) -> None:
    assert i18n.negotiate(header) == lang


def test_a_cookie_choice_wins_and_a_bad_one_is_ignored() -> None:
    assert i18n.choose("en", "zh-CN") == "en"
    assert i18n.choose("xx", "en") == "en"


def test_errors_are_translated_by_code_else_english() -> None:
    known = InvalidInput("an amount is more than zero", code="bad_amount", field="amountFen")
    assert i18n.error_text("zh-CN", known) == "请输入大于零的金额（元），最多两位小数。"
    unknown = InvalidInput("something new", code="never_heard_of_it")
    assert i18n.error_text("zh-CN", unknown) == "something new"
    assert i18n.translate("zh-CN", "no.such.key") == "no.such.key"
