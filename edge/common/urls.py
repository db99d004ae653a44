"""URLs as they may be shown: `redact_url` hides the secrets a camera or broker URL carries.

Every place that names a network source or server (log lines, errors, the summary, JSONL's `source`, the web
page, MQTT, a refused `--mqtt` option) shows `redact_url(url)`, never the URL itself. Recognised:

- the password of `user:pass@`, even when it holds an unescaped `@`, `/`, `?` or `#` (which cut the authority short
  for a URL parser): `rtsp://admin:Pa#ss@cam/x` → `rtsp://admin:***@cam/x`;
- the value of every parameter whose name ends in a secret word (SECRET_WORDS, any case: `token`, `api_key`,
  `apiKey`, `x-auth`, `access_token`, `pwd`, `psw`, Foscam's `loginpas`...), in the
  query and in the path, `&`, `;`, `/` or `_NAME=` ending it: `?api_key=***`, and the DVR form
  `/user=admin_password=***_channel=1_stream=0.sdp`.

When in doubt it hides more: a secret is never shown, a plain URL comes back as it was.
"""

from __future__ import annotations

import re

HIDDEN = "***"
SECRET_WORDS = ("token", "password", "passwd", "passphrase", "pass", "pas", "pwd", "psw", "pw", "secret", "key",
                "auth", "sig", "signature", "credential", "credentials")  # fmt: skip
# NAME=VALUE, NAME after a separator and ending in a secret word; VALUE up to the next separator or `_NAME=`.
_SECRET_PARAM = re.compile(
    r"(?:(?<=[/?&;_#])|^)([A-Za-z0-9.-]*?(?:" + "|".join(SECRET_WORDS) + r")=)"
    r"(.*?)(?=_[A-Za-z][A-Za-z0-9]*=|[&;#/?]|$)",
    re.IGNORECASE,
)
# What follows the `@` that ends a user:password: a host (name, address or [IPv6]) and port, then the path or the end.
_HOST_AFTER = re.compile(r"(?:\[[0-9A-Fa-f:.%]*\]|[^/?#@\s:\[\]]+)(?::\d*)?(?=[/?#]|$)")


def _userinfo_end(rest: str) -> int:
    """Where `user:pass@` ends in what follows `scheme://` (the index of its `@`), or -1 when there is none.

    The authority normally ends at the first `/`, `?` or `#`; a password holding one of those (unescaped) would hide
    its `@` from that rule, so then the last `@` that a host follows counts."""
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, cut)  # the last @ of the authority: a password may hold an unescaped one
    if at >= 0:
        return at
    candidates = [i for i, char in enumerate(rest) if char == "@" and _HOST_AFTER.match(rest, i + 1)]
    return candidates[-1] if candidates else -1


def unescaped_password(url: str) -> bool:
    """Whether the `user:pass@` of `url` holds an unescaped `/`, `?` or `#`, which no URL parser (FFmpeg's
    included) reads as part of it: the user is told to %-encode them."""
    _, found, rest = url.partition("://")
    if not found:
        return False
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    return _userinfo_end(rest) > cut


def redact_url(url: str) -> str:
    """`url` with the password of its `user:pass@` and the values of secret parameters as `***`.

    A URL without a password keeps its user (`rtsp://admin@cam/x` is unchanged); text that is not a URL comes
    back unchanged."""
    scheme, found, rest = url.partition("://")
    if not found:
        return url
    at = _userinfo_end(rest)
    head = ""
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, _ = userinfo.partition(":")
        head = f"{user}:{HIDDEN}@" if colon else f"{userinfo}@"
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    host, tail = rest[:cut], rest[cut:]
    return f"{scheme}://{head}{host}" + _SECRET_PARAM.sub(lambda m: m[1] + HIDDEN, tail)
