"""The conversion report as a table for the terminal."""

from __future__ import annotations


def format_table(report: dict) -> str:
    """Variant / size / agreement / max prob diff / accuracy per split, side by side."""
    splits = list(report["accuracy"])
    rows = report["evaluated_rows"]
    header = f"{'variant':<10}{'size':>10}{'agree':>9}{'max|dp|':>9}" + "".join(
        f"{f'{s} ({rows[s]})':>20}" for s in splits
    )
    lines = [header, "-" * len(header)]
    for name in ("keras", *report["variants"]):
        variant = report["variants"].get(name, {})
        size = f"{variant['bytes'] / 1024:.0f} KB" if "bytes" in variant else "-"
        agreement = f"{variant['top1_agreement']:.2%}" if "top1_agreement" in variant else "-"
        diff = f"{variant['max_abs_prob_diff']:.3f}" if "max_abs_prob_diff" in variant else "-"
        accs = "".join(f"{report['accuracy'][s].get(name, float('nan')):>20.2%}" for s in splits)
        lines.append(f"{name:<10}{size:>10}{agreement:>9}{diff:>9}{accs}")
    lines.append(f"agreement and max|dp| against Keras on {report['compared_on']} ({report['compared_rows']} images)")
    return "\n".join(lines)
