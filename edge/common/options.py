"""The command-line grammar every stage shares: `--version`, and option types that refuse bad values at parse time.

It lives in edge/ because edge/ is the one stage every other stage may import (edge itself imports none of
them), so the four commands get the same option checks and the same wording from one place.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Callable
from importlib import metadata
from typing import NamedTuple, NoReturn
from urllib.parse import quote, unquote

from edge.common.urls import redact_text, redact_url

DISTRIBUTION = "fer-edge"
FALLBACK_VERSION = "0.1.0"  # edge/ copied alone to a device has no installed metadata


def version() -> str:
    """The installed fer-edge version, or the source tree's when edge/ runs uninstalled (as on a Pi)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return FALLBACK_VERSION


class Parser(argparse.ArgumentParser):
    """argparse with the error contract of every stage: a bad option is one line on stderr and exit 2.

    Stock argparse prints its whole usage block first, which buries the one line that says what is wrong; the
    usage stays one `--help` away. Subcommand parsers inherit this class from their parent.
    """

    def error(self, message: str) -> NoReturn:
        """One line; a secret in a value it echoes (`invalid choice: 'rtsp://u:pass@…'`) hidden, as run_cli hides
        one in every later error."""
        self.exit(2, f"{self.prog}: error: {redact_text(message)} (see --help)\n")


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"%(prog)s (fer-edge) {version()}")


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose", action="store_true", help="also show what native libraries (TensorFlow) print to the terminal"
    )


def _number(kind: Callable[[str], float], test: Callable[[float], bool], wanted: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
        if value != value or not test(value):  # value != value: NaN
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
        return value

    parse.__name__ = wanted  # argparse names the type in its messages
    return parse


positive_int = _number(int, lambda v: v > 0, "a positive integer")
non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive number")
non_negative_float = _number(float, lambda v: 0 <= v < float("inf"), "a number >= 0")
fraction = _number(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")
above_one = _number(float, lambda v: 1 < v < float("inf"), "a number > 1")
fraction_below_one = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
MAX_THREADS = 64  # --threads: more never helps on an edge device, and 100000 hung the interpreter's start
thread_count = _number(int, lambda v: 1 <= v <= MAX_THREADS, f"an integer from 1 to {MAX_THREADS}")


def zero_or_at_least(minimum: int) -> Callable[[str], int]:
    """0 (a feature's "off" or "full") or an integer >= `minimum`."""
    return _number(int, lambda v: v == 0 or v >= minimum, f"0 or an integer >= {minimum}")


def number_from(low: float, high: float) -> Callable[[str], float]:
    """A number in [low, high]: for options whose extremes break what uses them (`--serve-fps 1e-300`,
    `--scale-factor 1.00001`)."""
    return _number(float, lambda v: low <= v <= high, f"a number from {low:g} to {high:g}")


def host_name(text: str) -> str:
    """A host name or address as a client writes it in an HTTP Host header (`pi.local`, `192.168.1.5`)."""
    name = text.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if not name or any(c.isspace() or c in "/?#@[]" for c in name) or (":" in name and not is_ip(name)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name such as pi.local or 192.168.1.5")
    return name


host_name.__name__ = "a host name"


def is_ip(text: str) -> bool:
    """Whether `text` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def frame_sizes(text: str) -> list[tuple[int, int]]:
    """`640x480,1280x720` as [(640, 480), (1280, 720)]: each a positive WIDTHxHEIGHT."""
    sizes = []
    for part in text.split(","):
        width, x, height = part.strip().lower().partition("x")
        if not (x and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a size WIDTHxHEIGHT such as 640x480")
        sizes.append((int(width), int(height)))
    return sizes


frame_sizes.__name__ = "a list of sizes"


def _port(text: str, whole: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:  # not ١٢٣٤: int() would take it
        raise argparse.ArgumentTypeError(f"{whole!r}: the port must be a number from 1 to 65535")
    return int(text)


def host_port(text: str) -> tuple[str, int]:
    """`[HOST:]PORT` for a server: HOST defaults to 127.0.0.1, so nothing is reachable from outside unless asked."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"  # [::1]:8000 for IPv6
    return host, _port(port, text)


host_port.__name__ = "[HOST:]PORT"


MQTT_TOPIC_MAX = 65535  # bytes of UTF-8 in one topic name (MQTT 3.1.1 and 5)


def topic_problem(text: str, what: str = "topic prefix") -> str | None:
    """Why `text` cannot be levels of a topic that fer-edge publishes to, or None: no + or # (wildcards), no NUL,
    no empty level, at most MQTT's 65,535 bytes."""
    if not text:
        return f"the {what} is empty"
    if "+" in text or "#" in text:
        return f"the {what} may not hold + or # (wildcards)"
    if "\0" in text:
        return f"the {what} may not hold a NUL character"
    if "" in text.split("/"):
        return f"the {what} may not hold an empty level (//, or / at its start)"
    if len(text.encode("utf-8", "surrogatepass")) > MQTT_TOPIC_MAX:
        return f"the {what} is longer than MQTT's {MQTT_TOPIC_MAX} bytes"
    return None


class MqttUrl(NamedTuple):
    host: str
    port: int
    user: str | None
    password: str | None
    prefix: str

    def __str__(self) -> str:
        """The URL for messages, summaries and logs: the password, wherever it came from, never shows."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = "" if self.user is None else f"{quote(self.user, safe='')}{':***' if self.password else ''}@"
        return f"mqtt://{user}{host}:{self.port}"

    def __repr__(self) -> str:
        return f"MqttUrl({str(self)!r})"

    def with_password(self, password: str | None) -> MqttUrl:
        return self._replace(password=password)


MQTT_URL_FORM = "mqtt://[USER:PASS@]HOST[:PORT][/PREFIX]"


def mqtt_url(text: str) -> MqttUrl:
    """`mqtt://[USER[:PASS]@]HOST[:PORT][/PREFIX]`; the prefix defaults to fer-edge (topics PREFIX/DEVICE/...).

    USER and PASS are %-decoded; PASS may hold `:` (the first `:` ends the user name) and `@` (the last `@` ends
    the password). Error messages never echo the password."""
    shown = redact_url(text)  # before any check: no message may echo the password
    shown = repr(shown if len(shown) <= 80 else shown[:77] + "...")
    scheme, sep, rest = text.partition("://")
    if scheme != "mqtt" or not sep:
        raise argparse.ArgumentTypeError(f"{shown} is not {MQTT_URL_FORM}")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if "@" in path and not at:  # mqtt://fer:Pa/ss@host: the / ended the host part early
        raise argparse.ArgumentTypeError(f"{shown}: %-encode a / in the user name or password (%2F)")
    if "?" in hostport or "#" in hostport or "?" in path or "#" in path:
        raise argparse.ArgumentTypeError(f"{shown}: no ? or # (not in a topic prefix; %-encode them in a password)")
    user = password = None
    if at:
        raw_user, colon, raw_password = userinfo.partition(":")
        user = unquote(raw_user)
        password = unquote(raw_password) if colon else None
        if not user:
            raise argparse.ArgumentTypeError(f"{shown}: the user name before @ is empty")
    if hostport.startswith("["):  # [::1]:1883
        host, bracket, after = hostport[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise argparse.ArgumentTypeError(f"{shown}: an IPv6 host is written [ADDRESS]:PORT")
        has_port, port_text = bool(after), after[1:]
    else:
        host, colon, port_text = hostport.partition(":")
        has_port = bool(colon)
    if not host or any(c.isspace() or not c.isprintable() for c in hostport):
        raise argparse.ArgumentTypeError(f"{shown}: no host name, or a space or control character in it")
    if has_port and not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise argparse.ArgumentTypeError(f"{shown}: the port must be a number from 1 to 65535")
    port = int(port_text) if has_port else 1883
    prefix = unquote(path).rstrip("/") if path.strip("/") else "fer-edge"
    problem = topic_problem(prefix)
    if problem:
        raise argparse.ArgumentTypeError(f"{shown}: {problem}")
    return MqttUrl(host, port, user, password, prefix)


mqtt_url.__name__ = "MQTT URL"


def topic_prefix(text: str) -> str:
    """A topic prefix such as Home Assistant's discovery prefix: levels without wildcards; a trailing / is dropped."""
    prefix = text.rstrip("/") if text.strip("/") else text
    problem = topic_problem(prefix)
    if problem:
        raise argparse.ArgumentTypeError(f"{text[:80]!r}{'...' if len(text) > 80 else ''}: {problem}")
    return prefix


topic_prefix.__name__ = "topic prefix"


def slug(text: str) -> str:
    """A name that is safe in a topic level and a Home Assistant id: letters, digits, - and _."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")


def device_name(text: str) -> str:
    """`--device-name`: used as given in the topics and Home Assistant ids, so a name they could not hold is
    refused rather than changed (`küche` and `k.che` would both have become `k_che`, sharing topics)."""
    if slug(text) != text:
        suggestion = f"; e.g. {slug(text)[:80]!r}" if slug(text) else ""
        raise argparse.ArgumentTypeError(
            f"{text[:80]!r}: letters, digits, - and _ only (it names the MQTT topics and Home Assistant ids)"
            + suggestion
        )
    return text


device_name.__name__ = "device name"
