"""A self-contained HTML report of a quickstart run: inline SVG plots, tables, coloured step scores.

No plotting library and no network: the file opens in any browser as it is.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Sequence

__all__ = ["write_report", "svg_lines", "step_colour"]

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def step_colour(score: float | None) -> str:
    """Background for a step: red (0) through yellow (0.5) to green (1); grey when unscored.

    Example:
        >>> step_colour(0.0), step_colour(1.0), step_colour(None)
        ('hsl(0, 75%, 80%)', 'hsl(120, 75%, 80%)', '#ddd')
    """
    if score is None:
        return "#ddd"
    return f"hsl({round(120 * max(0.0, min(1.0, score)))}, 75%, 80%)"


def svg_lines(series: dict[str, Sequence[tuple[float, float]]], *, xlabel: str, ylabel: str, log_x: bool = False,
              width: int = 520, height: int = 320) -> str:
    """A line chart of ``{name: [(x, y), ...]}`` as an inline SVG string, with axes, ticks and a legend."""
    points = [p for s in series.values() for p in s]
    if not points:
        return "<p>(no data)</p>"
    fx = (lambda v: math.log2(v)) if log_x else (lambda v: v)
    xs, ys = [fx(x) for x, _ in points], [y for _, y in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(0.0, min(ys)), max(1.0, max(ys))
    left, right, top, bottom = 56, 150, 16, 44
    px = lambda v: left + (fx(v) - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    py = lambda v: top + (1 - (v - y0) / (y1 - y0)) * (height - top - bottom)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<line x1="{left}" y1="{py(y0)}" x2="{width - right}" y2="{py(y0)}" stroke="#333"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{py(y0)}" stroke="#333"/>']
    for k in range(6):
        v = y0 + (y1 - y0) * k / 5
        out.append(f'<text x="{left - 6}" y="{py(v) + 4}" text-anchor="end">{v:.1f}</text>'
                   f'<line x1="{left}" y1="{py(v)}" x2="{width - right}" y2="{py(v)}" stroke="#eee"/>')
    ticks = sorted({x for x, _ in points})
    if len(ticks) > 8:
        ticks = ticks[:: math.ceil(len(ticks) / 8)]
    for x in ticks:
        label = f"{x:,.0f}" if abs(x) >= 10 or x == int(x) else f"{x:.2g}"
        out.append(f'<text x="{px(x)}" y="{py(y0) + 16}" text-anchor="middle">{label}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">{html.escape(xlabel)}</text>')
    out.append(f'<text x="14" y="{(top + py(y0)) / 2}" text-anchor="middle" transform="rotate(-90 14 {(top + py(y0)) / 2})">'
               f'{html.escape(ylabel)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(pts))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in pts]
        out.append(f'<text x="{width - right + 10}" y="{top + 14 + 16 * i}" fill="{colour}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _examples_html(scored: Sequence[tuple[Any, Any]]) -> str:
    parts = []
    for ex, scores in scored:
        gold = ex.labels.first_error if ex.labels is not None else None
        rows = []
        for k, (step, score) in enumerate(zip(ex.solution.steps, scores.values)):
            mark = " ← first error (exact)" if gold == k else ""
            value = "-" if score is None else f"{score:.2f}"
            rows.append(f'<div class="step" style="background:{step_colour(score)}"><b>{value}</b> '
                        f'{html.escape(step)}<i>{mark}</i></div>')
        verdict = "no error" if gold is None else f"first error at step {gold + 1}"
        parts.append(f"<div class='ex'><p><b>{html.escape(ex.problem.id)}</b> ({verdict}): "
                     f"{html.escape(ex.problem.question)}</p>{''.join(rows)}</div>")
    return "".join(parts)


def _verifiers_html(rows: dict) -> str:
    """Section 4: the trained PRM next to the bundled generative verifier, F1 against verifier tokens."""
    if not rows:
        return ""
    body = "".join(f"<tr><td>{html.escape(name)}</td><td>{r['f1@0.5'] or 0:.3f}</td><td>{r['tokens_per_solution']:,.0f}</td>"
                   f"<td>{r['unscored_steps']}</td></tr>" for name, r in rows.items())
    return ("<h2>4. The trained PRM against a generative verifier</h2>\n<p>The bundled generative verifiers "
            "(docs/generative.md) write a verification chain per solution: they derive each step, are shown the "
            "solution's step, and judge it; the code-checking one first runs a Python block (in the sandbox) that "
            "compares the two and recomputes the shown arithmetic. A step's score is the verdict token's probability, "
            "averaged over K chains. Same held-out solutions; tokens are what each verifier read and wrote per "
            "solution.</p>\n"
            "<table><tr><th>verifier</th><th>first-error F1 at 0.5</th><th>verifier tokens / solution</th>"
            f"<th>unscored steps</th></tr>{body}</table>")


def write_report(path: Path, summary: dict, scored: Sequence[tuple[Any, Any]]) -> Path:
    """Write the quickstart report to ``path`` (one HTML file)."""
    acc = summary["search"]
    bon, beam, pf = acc.get("best-of-n", {}), acc.get("beam", {}), acc.get("particle-filtering", {})
    certain = {n: r["self-certainty"] for n, r in bon.items() if "self-certainty" in r}  # PRM-free
    curves = {"majority vote": [(int(n), r["majority"]) for n, r in bon.items()],
              "self-certainty Best-of-N (no PRM)": [(int(n), v) for n, v in certain.items()],
              "PRM Best-of-N": [(int(n), r["prm"]) for n, r in bon.items()],
              "PRM-weighted vote": [(int(n), r["weighted"]) for n, r in bon.items()],
              "PRM beam search": [(int(n), r["prm"]) for n, r in beam.items()],
              "PRM particle filtering": [(int(n), r["prm"]) for n, r in pf.items()]}
    compute = {"majority vote": [(r["generated_tokens"], r["majority"]) for r in bon.values()],
               "PRM Best-of-N": [(r["generated_tokens"], r["prm"]) for r in bon.values()],
               "PRM beam search": [(r["generated_tokens"], r["prm"]) for r in beam.values()],
               "PRM particle filtering": [(r["generated_tokens"], r["prm"]) for r in pf.values()]}
    curves = {k: v for k, v in curves.items() if v}
    compute = {k: v for k, v in compute.items() if v}
    q = summary["labels"]["quality"]
    pb = summary["processbench"]
    largest = str(max(int(n) for n in bon)) if bon else None
    rows = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{y:.3f}</td>" for _, y in sorted(pts)) + "</tr>"
                   for name, pts in curves.items() if pts)
    header = "".join(f"<th>N={n}</th>" for n in sorted(int(n) for n in bon))
    timing = ", ".join(f"{k}: {v:.0f} s" for k, v in summary["seconds"].items())
    headline = ""
    if largest:
        nan = float("nan")
        headline = (f"<p class='big'>At N={largest}: PRM Best-of-N <b>{bon[largest]['prm']:.3f}</b>, PRM-weighted vote "
                    f"<b>{bon[largest]['weighted']:.3f}</b>, beam search <b>{beam.get(largest, {}).get('prm', nan):.3f}</b>, "
                    f"particle filtering <b>{pf.get(largest, {}).get('prm', nan):.3f}</b>, "
                    f"majority vote <b>{bon[largest]['majority']:.3f}</b>, self-certainty Best-of-N (no PRM) "
                    f"<b>{certain.get(largest, nan):.3f}</b>.</p>")
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>prmkit quickstart report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:first-child{{text-align:left}}
.step{{padding:3px 6px;margin:2px 0;font-family:monospace}} .ex{{margin:1em 0}} .big{{font-size:1.2em}}
.plots{{display:flex;flex-wrap:wrap;gap:1em}}</style></head><body>
<h1>prmkit quickstart</h1>
<p>Synthetic world, bundled policy. Stages: {html.escape(timing)}.</p>
<h2>1. Search: does the PRM pick better solutions?</h2>
{headline}
<div class="plots">{svg_lines(curves, xlabel="N (candidates per problem)", ylabel="accuracy", log_x=True)}
{svg_lines(compute, xlabel="generated tokens per problem", ylabel="accuracy", log_x=True)}</div>
<table><tr><th>method</th>{header}</tr>{rows}</table>
<p>{summary['config']['search_problems']} held-out problems. Best-of-N, majority vote and self-certainty share the same
samples; self-certainty picks the candidate whose tokens the policy itself found likeliest (no PRM).</p>
<h2>2. Step labels from Monte-Carlo rollouts</h2>
<p>{summary['labels'].get('rollouts', 0):,} rollouts for {q['solutions']} solutions. Against the world's exact labels:
first-error accuracy <b>{q['first_error_accuracy']:.3f}</b>, ProcessBench F1 <b>{q['f1']:.3f}</b>,
step accuracy {q['step_accuracy']:.3f}.</p>
<h2>3. The trained PRM finds first errors</h2>
<p>ProcessBench-format evaluation on {summary['config']['bench_problems']} held-out policy solutions: first-error F1
<b>{pb['f1_calibrated']:.3f}</b> at the threshold calibrated on a separate set ({pb['threshold']:.2f}),
{pb['f1_at_0.5'] or 0:.3f} at 0.5. Trained on {summary['training']['solutions']} solutions in
{summary['training']['train_seconds'] or 0:.0f} s.</p>
{_verifiers_html(summary.get("verifiers") or {})}
<h2>5. Solutions, each step coloured by its PRM score</h2>
{_examples_html(scored)}
</body></html>"""
    path.write_text(doc, encoding="utf-8")
    return path
