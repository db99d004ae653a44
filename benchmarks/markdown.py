"""Markdown tables, shared by every results section."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def verdict_table(verdicts: list[dict]) -> list[str]:
    """Targets, their measured values and whether each was met (a miss in bold)."""
    return table(
        ["target", "measured", "met"], [[v["target"], v["value"], "yes" if v["met"] else "**no**"] for v in verdicts]
    )
