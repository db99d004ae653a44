"""URLs as they may be shown: `redact_url` hides the secrets a camera or broker URL carries.

Every place that names a network source or server (log lines, errors, the summary, JSONL's `source`, the web
page, MQTT) shows `redact_url(url)`, never the URL itself: `rtsp://user:pass@host/x` → `rtsp://user:***@host/x`,
and the values of secret-looking query parameters (`?token=…`) likewise.
"""

from __future__ import annotations

import re

HIDDEN = "***"
SECRET_QUERY_KEYS = ("token", "access_token", "password", "passwd", "pass", "pwd", "secret", "key", "auth", "sig")
_QUERY_KEYS = ("token", "access_token", "password", "passwd", "pass", "pwd", "secret", "key", "auth", "sig")
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/?#@:]*)(?::[^/?#@]*)?@")
_QUERY = re.compile(r"([?&;](?:" + "|".join(SECRET_QUERY_KEYS) + r")=)[^&;#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """`url` with the password of its `user:pass@` and the values of secret query parameters as `***`.

    A URL without a password keeps its user (`rtsp://admin@cam/x` is unchanged); text that is not a URL comes
    back unchanged."""
    scheme, found, rest = url.partition("://")
    if not found:
        return url
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, host = authority.rpartition("@")  # the last @: a password may hold an unescaped one
    if at and ":" in userinfo:
        authority = f"{userinfo.split(':', 1)[0]}:{HIDDEN}@{host}"
    return f"{scheme}://{authority}" + _QUERY.sub(lambda m: m[1] + HIDDEN, tail)
