"""Text from outside (a contract's labels, file names, a camera's messages) made safe to print.

A control character (ESC, CR, BEL...) or a format character (a bidi override) in a line on a terminal or in the
journal can retitle the window, clear the screen or disguise the line. Contracts refuse them in labels; whatever
else reaches a terminal line goes through `visible`, which shows them as escapes.
"""

from __future__ import annotations

import unicodedata

CONTROL_CATEGORIES = ("Cc", "Cf")  # control and format characters


def is_control(char: str) -> bool:
    return unicodedata.category(char) in CONTROL_CATEGORIES


def visible(text: str, keep: str = "\n") -> str:
    """`text` with every control or format character but those in `keep` written as an escape (`\\x1b`)."""
    if text.isprintable():  # the usual line, at C speed
        return text
    return "".join(char if char in keep or not is_control(char) else ascii(char)[1:-1] for char in text)
