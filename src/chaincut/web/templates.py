"""The staff pages' HTML: one layout, the sign-in form and the console, in English and Traditional Chinese.

Plain ``string.Template`` with every value escaped by ``html.escape`` before it
is substituted; no inline scripts or styles, so the Content-Security-Policy
(``default-src 'self'``) holds. Labels show both languages side by side unless
the page was asked for one (``?lang=en`` or ``?lang=zh-Hant``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from html import escape
from string import Template
from urllib.parse import urlencode

from chaincut.domain.access import ROLE_PERMISSIONS, Permission, Role

__all__ = ["Lang", "bilingual", "console_page", "message_page", "render_page", "sign_in_page", "with_lang"]


class Lang(StrEnum):
    """Which labels a page shows."""

    BOTH = "both"
    EN = "en"
    ZH_HANT = "zh-Hant"

    @classmethod
    def parse(cls, value: str | None) -> Lang:
        """The language a query asked for; anything unknown shows both."""
        for lang in cls:
            if value == lang.value:
                return lang
        return cls.BOTH


# (English, Traditional Chinese as written in Hong Kong)
_LABELS: Mapping[str, tuple[str, str]] = {
    "title": ("chaincut staff", "chaincut 職員"),
    "sign_in": ("Sign in", "登入"),
    "sign_out": ("Sign out", "登出"),
    "username": ("Username", "用戶名稱"),
    "password": ("Password", "密碼"),
    "console": ("Console", "控制台"),
    "signed_in_as": ("Signed in as", "已登入："),
    "roles": ("roles", "角色"),
    "what_you_can_do": ("What you can do", "你可以做的事"),
    "sign_in_failed": (
        "Sign-in failed: wrong username or password, or the account is locked or disabled.",
        "登入失敗：用戶名稱或密碼錯誤，或帳戶已被鎖定或停用。",
    ),
    "form_expired": (
        "This sign-in form has expired or did not come from this site. Please try again.",
        "此登入表格已過期或並非來自本網站，請再試一次。",
    ),
    "refused": ("Refused", "已拒絕"),
    "csrf_failed": (
        "This form is missing its security token, or the token does not match your session. "
        "Nothing was changed.",
        "此表格缺少保安編碼，或編碼與你的登入階段不符。系統未作任何更改。",
    ),
    "too_many": ("Too many attempts", "嘗試次數過多"),
    "retry_in": ("Please wait before trying again (seconds):", "請稍候再試（秒）："),
    "back_to_console": ("Back to the console", "返回控制台"),
    "api_docs": ("API documentation", "API 文件"),
    "status": ("Counts and status", "統計及狀態"),
    "cases": ("Cases (assigned to you, unless you supervise)", "個案（督導以外只顯示分派給你的個案）"),
    "venues": ("Venues", "場所"),
    "approvals": ("Export requests awaiting approval", "待批核的匯出申請"),
    "staff": ("Staff accounts", "職員帳戶"),
    "audit_verify": ("Check the audit log's chain", "核對審計記錄鏈"),
    "purges": ("Retention purges", "資料保留期清除記錄"),
    "who_am_i": ("Your account and permissions", "你的帳戶及權限"),
    "checkpoint": ("Check a traveller at the checkpoint", "口岸查驗旅客"),
    "situation_report": ("Today's situation report", "今日疫情狀況報告"),
}

_ROLE_LABELS: Mapping[Role, tuple[str, str]] = {
    Role.TRACER: ("Contact tracer", "接觸追蹤人員"),
    Role.SUPERVISOR: ("Supervisor", "督導人員"),
    Role.EPIDEMIOLOGIST: ("Epidemiologist", "流行病學家"),
    Role.POLICY_EDITOR: ("Policy editor", "政策編輯"),
    Role.BORDER_OFFICER: ("Border officer", "口岸人員"),
    Role.VENUE_OPERATOR: ("Venue operator", "場所營運者"),
    Role.ADMINISTRATOR: ("Administrator", "系統管理員"),
}


@dataclass(frozen=True)
class _Link:
    permission: Permission
    href: str
    label: str


# What each permission opens in the browser (GET routes that need no stated purpose).
_LINKS = (
    _Link(Permission.CASES_READ, "/cases", "cases"),
    _Link(Permission.ANALYTICS_READ, "/reports/situation", "situation_report"),
    _Link(Permission.EXPORTS_APPROVE, "/approvals", "approvals"),
    _Link(Permission.VENUES_READ, "/venues", "venues"),
    _Link(Permission.USERS_MANAGE, "/staff", "staff"),
    _Link(Permission.AUDIT_READ, "/audit/verify", "audit_verify"),
    _Link(Permission.RETENTION_RUN, "/purges", "purges"),
    _Link(Permission.STATUS_READ, "/status", "status"),
    _Link(Permission.BORDER_CLEAR, "/checkpoint", "checkpoint"),
)


def _pair(en: str, zh: str, lang: Lang) -> str:
    if lang is Lang.EN:
        return escape(en)
    if lang is Lang.ZH_HANT:
        return escape(zh)
    return f'{escape(en)} <span lang="zh-Hant">{escape(zh)}</span>'


def bilingual(en: str, zh: str, lang: Lang) -> str:
    """A label in the page's language(s), escaped."""
    return _pair(en, zh, lang)


def render_page(title: str, body: str, lang: Lang, path: str) -> str:
    """A whole page in the common layout: ``title`` plain text, ``body`` already escaped HTML."""
    return _layout(escape(title), body, lang, path)


def _t(key: str, lang: Lang) -> str:
    en, zh = _LABELS[key]
    return _pair(en, zh, lang)


def _plain(key: str, lang: Lang) -> str:
    """A label for an attribute or a title: no markup."""
    en, zh = _LABELS[key]
    if lang is Lang.EN:
        return escape(en)
    if lang is Lang.ZH_HANT:
        return escape(zh)
    return escape(f"{en} {zh}")


def with_lang(path: str, lang: Lang) -> str:
    """``path`` keeping the page's chosen language (``path`` is always one of ours, never the caller's)."""
    return path if lang is Lang.BOTH else f"{path}?{urlencode({'lang': lang.value})}"


_LAYOUT = Template(
    """<!doctype html>
<html lang="$html_lang">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<link rel="stylesheet" href="/static/chaincut.css">
</head>
<body>
<header class="bar">
<p class="brand">chaincut</p>
<nav class="langs" aria-label="language 語言">
<a href="$here_en" lang="en">English</a>
<a href="$here_zh" lang="zh-Hant">繁體中文</a>
<a href="$here_both">English + 中文</a>
</nav>
</header>
<main>
$body
</main>
</body>
</html>
"""
)


def _layout(title: str, body: str, lang: Lang, path: str) -> str:
    return _LAYOUT.substitute(
        html_lang="en" if lang is Lang.EN else "zh-Hant" if lang is Lang.ZH_HANT else "en",
        title=title,
        body=body,
        here_en=escape(with_lang(path, Lang.EN)),
        here_zh=escape(with_lang(path, Lang.ZH_HANT)),
        here_both=escape(path),
    )


_SIGN_IN = Template(
    """<h1>$heading</h1>
$alert
<form class="card" method="post" action="$action">
<input type="hidden" name="csrf_token" value="$csrf_token">
<label for="username">$username_label</label>
<input id="username" name="username" autocomplete="username" required maxlength="64" value="$username">
<label for="password">$password_label</label>
<input id="password" name="password" type="password" autocomplete="current-password"
 required maxlength="1024">
<button type="submit">$submit</button>
</form>"""
)


def _alert(key: str | None, lang: Lang) -> str:
    return f'<p class="alert" role="alert">{_t(key, lang)}</p>' if key else ""


def sign_in_page(lang: Lang, csrf_token: str, *, username: str = "", error: str | None = None) -> str:
    """The sign-in form; ``error`` names a label to show above it ('sign_in_failed', 'form_expired')."""
    body = _SIGN_IN.substitute(
        heading=_t("sign_in", lang),
        alert=_alert(error, lang),
        action=escape(with_lang("/login", lang)),
        csrf_token=escape(csrf_token),
        username_label=_t("username", lang),
        username=escape(username[:64]),
        password_label=_t("password", lang),
        submit=_t("sign_in", lang),
    )
    return _layout(_plain("sign_in", lang), body, lang, "/login")


_CONSOLE = Template(
    """<h1>$heading</h1>
<p class="who">$signed_in_as <strong id="principal">$name</strong>,
$roles_label <span id="roles">$roles</span></p>
<section class="card">
<h2>$what</h2>
<ul class="links">
<li><a href="/docs">$api_docs</a></li>
<li><a href="/auth/me">$who_am_i</a></li>
</ul>
</section>
$sections
$sign_out"""
)

_SIGN_OUT = Template(
    """<form class="sign-out" method="post" action="$action">
<input type="hidden" name="csrf_token" value="$csrf_token">
<button type="submit">$label</button>
</form>"""
)


def _role_section(role: Role, lang: Lang) -> str:
    granted = ROLE_PERMISSIONS[role]
    items = "\n".join(
        f'<li><a href="{escape(link.href)}">{_t(link.label, lang)}</a></li>'
        for link in _LINKS
        if link.permission in granted
    )
    en, zh = _ROLE_LABELS[role]
    return (
        f'<section class="card role" id="role-{escape(role.value)}">\n'
        f'<h2>{_pair(en, zh, lang)}</h2>\n<ul class="links">\n{items}\n</ul>\n</section>'
    )


def console_page(lang: Lang, *, name: str, roles: Iterable[Role], csrf_token: str | None) -> str:
    """The signed-in start page: who you are, and per role what you can open."""
    held = sorted(roles, key=lambda r: r.value)
    sign_out = (
        _SIGN_OUT.substitute(
            action=escape(with_lang("/logout", lang)),
            csrf_token=escape(csrf_token),
            label=_t("sign_out", lang),
        )
        if csrf_token
        else ""
    )
    body = _CONSOLE.substitute(
        heading=_t("console", lang),
        signed_in_as=_t("signed_in_as", lang),
        name=escape(name),
        roles_label=_t("roles", lang),
        roles=escape(", ".join(r.value for r in held)) or "-",
        what=_t("what_you_can_do", lang),
        api_docs=_t("api_docs", lang),
        who_am_i=_t("who_am_i", lang),
        sections="\n".join(_role_section(role, lang) for role in held),
        sign_out=sign_out,
    )
    return _layout(_plain("console", lang), body, lang, "/console")


def message_page(lang: Lang, *, heading: str, message: str, back: tuple[str, str], detail: str = "") -> str:
    """A short page for a refusal: a heading and a message (label keys), and a way back (path, label)."""
    text = _t(message, lang) + (f" {escape(detail)}" if detail else "")
    path, label = back
    body = (
        f"<h1>{_t(heading, lang)}</h1>\n"
        f'<p class="alert" role="alert">{text}</p>\n'
        f'<p><a href="{escape(with_lang(path, lang))}">{_t(label, lang)}</a></p>'
    )
    return _layout(_plain(heading, lang), body, lang, path)
