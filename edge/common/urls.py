"""URLs as they may be shown: `redact_url` hides the secrets a camera or broker URL carries.

Every place that names a network source or server (log lines, errors, the summary, JSONL's `source`, the web
page, MQTT, a refused `--mqtt` option) shows `redact_url(url)`, never the URL itself, and every stage's one-line
error goes through `redact_text` on its way out (`run_cli`), so no entry point prints a secret a user typed.
Recognised:

- the password of `user:pass@`, even when it holds an unescaped `@`, `/`, `?` or `#` (which cut the authority short
  for a URL parser): `rtsp://admin:Pa#ss@cam/x` → `rtsp://admin:***@cam/x`; when several `@` are followed by a
  host, the last one ends the password (`rtsp://admin:P@ss/w0rd@cam/x`). A mistyped scheme (`rtsp:/`, `rtsp//`)
  or none (`admin:pass@cam:554/x`) is treated the same: such an argument is a URL to the user who typed it;
- the value of every parameter whose name contains a secret word (SECRET_WORDS, any case: `token`, `api_key`,
  `api%5Fkey`, `x-auth`, `password1`, `pass_word`, `pwd`, Foscam's `loginpas`, `session`, `jsessionid`, `jwt`...),
  in the query and in the path, `&`, `;`, `/` or `_NAME=` ending it: `?api_key=***`, and the DVR form
  `/user=admin_password=***_channel=1_stream=0.sdp`;
- a path segment that is a token rather than a name (SECRET_SEGMENT: a JWT, or 12 or more letters and digits
  mixed, without a dot): `/live/9f8e7d6c5b4a3f2e/stream.m3u8` → `/live/***/stream.m3u8`.

When in doubt it hides more: a secret is never shown, a plain URL comes back as it was.
"""

from __future__ import annotations

import re

HIDDEN = "***"
# Each also covers the longer names holding it: password, passwd, signature, sessionid...
SECRET_WORDS = ("token", "pass", "pas", "pwd", "psw", "pw", "secret", "key", "auth", "sig", "credential", "session",
                "jwt")  # fmt: skip
# NAME=VALUE, NAME after a separator and containing a secret word; VALUE up to the next separator or `_NAME=`.
_NAME_CHARS = r"[A-Za-z0-9._%-]"
_SECRET_PARAM = re.compile(
    rf"(?:(?<=[/?&;_#])|^)({_NAME_CHARS}*?(?:" + "|".join(SECRET_WORDS) + rf"){_NAME_CHARS}*=)"
    r"(.*?)(?=_[A-Za-z][A-Za-z0-9]*=|[&;#/?]|$)",
    re.IGNORECASE,
)
# A path segment that is a token, not a name: a JWT, or 12+ letters and digits mixed (no dot: not a file name).
SECRET_SEGMENT = re.compile(
    r"(?<=/)(?:eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    r"|(?=[A-Za-z0-9-]*[0-9])(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9-]{12,})(?=[/?#;&]|$)"
)
# A scheme typed wrong (`rtsp:/`, `rtsp//`): what follows it is still `user:pass@host...`.
_LOOSE_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:?/{1,2}")
# What follows the `@` that ends a user:password: a host (name, address or [IPv6]) and port, then the path or the end.
_HOST_AFTER = re.compile(r"(?:\[[0-9A-Fa-f:.%]*\]|[^/?#@\s:\[\]]+)(?::\d*)?(?=[/?#]|$)")


def _userinfo_end(rest: str) -> int:
    """Where `user:pass@` ends in what follows `scheme://` (the index of its `@`), or -1 when there is none.

    The last `@` that a host (then the path or the end) follows counts: a password may hold an unescaped `@`,
    `/`, `?` or `#`, and one holding `@` then `/` (`admin:P@ss/w0rd@cam/x`) has a false host (`ss`) before the
    real one. Without such an `@`, the last `@` before the first `/`, `?` or `#` counts."""
    candidates = [i for i, char in enumerate(rest) if char == "@" and _HOST_AFTER.match(rest, i + 1)]
    if candidates:
        return candidates[-1]
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    return rest.rfind("@", 0, cut)


def _split_scheme(url: str) -> tuple[str, str]:
    """(`scheme://`, the rest); a mistyped or missing scheme gives what the text has in its place, so that
    `rtsp:/admin:pass@cam/x` and `admin:pass@cam/x` are read as the URLs they were meant to be."""
    scheme, found, rest = url.partition("://")
    if found:
        return scheme + found, rest
    loose = _LOOSE_SCHEME.match(url)
    return (loose[0], url[loose.end() :]) if loose else ("", url)


def unescaped_password(url: str) -> bool:
    """Whether the `user:pass@` of `url` holds an unescaped `/`, `?` or `#`, which no URL parser (FFmpeg's
    included) reads as part of it: the user is told to %-encode them."""
    _, rest = _split_scheme(url)
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    return _userinfo_end(rest) > cut


def redact_url(url: str) -> str:
    """`url` with the password of its `user:pass@` and the values of secret parameters as `***`.

    A URL without a password keeps its user (`rtsp://admin@cam/x` is unchanged); text without `://` (a file name,
    or a URL whose scheme was mistyped) has only its `user:pass@` hidden; other text comes back unchanged."""
    scheme, rest = _split_scheme(url)
    at = _userinfo_end(rest)
    head = ""
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, _ = userinfo.partition(":")
        placeholder = userinfo.startswith("[")  # a usage form, `mqtt://[USER:PASS@]HOST`: no user name starts so
        head = f"{user}:{HIDDEN}@" if colon and not placeholder else f"{userinfo}@"
    if not scheme.endswith("://"):  # not a URL: its path is a file's, whose names are not secrets
        return f"{scheme}{head}{rest}"
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    host, tail = rest[:cut], rest[cut:]
    tail = SECRET_SEGMENT.sub(HIDDEN, _SECRET_PARAM.sub(lambda m: m[1] + HIDDEN, tail))
    return f"{scheme}{head}{host}{tail}"


def redact_text(text: str) -> str:
    """`text` (a message) with every word that could carry a secret passed through `redact_url`."""
    return re.sub(r"\S*[@=]\S*", lambda m: redact_url(m[0]), text)
