"""The backtest as one self-contained HTML file, and as the compact table ``csx backtest``
prints.

The HTML is the report's own markdown (``BacktestReport.to_markdown``: headings, paragraphs
and pipe tables, nothing else) rendered by a small renderer, with the plots embedded as
base64 PNG data URIs and the CSS inline, so the file opens anywhere, offline, and can be
mailed or attached as it is. No template engine, no markdown dependency.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from csx_core.ml.backtest import SCORERS, BacktestReport

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; }
figure { display: inline-block; margin: .5em 1em .5em 0; }
figcaption { font-size: .9em; color: #555; }
code { font-size: .95em; }
"""


def markdown_to_html(markdown: str) -> str:
    """Headings, paragraphs and pipe tables (the subset ``to_markdown`` writes), escaped."""
    out: list[str] = []
    table: list[list[str]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{html.escape(' '.join(paragraph))}</p>")
            paragraph.clear()
        if table:
            out.append(_table(table[0], table[1:]))
            table.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        if line.startswith("|"):
            if paragraph:
                out.append(f"<p>{html.escape(' '.join(paragraph))}</p>")
                paragraph.clear()
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-", ":"} and c for c in cells):  # skip the --- row
                table.append(cells)
            continue
        flush()
        if line.startswith("#"):
            level = min(6, len(line) - len(line.lstrip("#")))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line:
            paragraph.append(line)
    flush()
    return "\n".join(out)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _run_table(meta: Mapping[str, Any]) -> str:
    model = meta.get("model", {})
    rows = [
        ("model", model.get("source", "")),
        ("version", model.get("version") or "—"),
        ("model id", model.get("model_id", "")),
        ("package digest", model.get("package_digest", "")),
        ("feature / cost version", f"{model.get('feature_version')} / {model.get('cost_version')}"),
        ("store", meta.get("store", "")),
        ("days evaluated", ", ".join(meta.get("days", []))),
        ("symbols", ", ".join(meta.get("symbols") or []) or "all"),
        (
            "labelled rows",
            f"{meta.get('labelled_rows')} (stride {meta.get('stride_s')} s)",
        ),
        ("ticks / horizon", f"{meta.get('cadence_s')} s / {meta.get('horizon_s')} s"),
        ("book", _book(meta.get("assumed_spread_bps"))),
        ("replay digest", meta.get("replay", {}).get("digest", "")),
    ]
    return _table(("run", ""), ([k, str(v)] for k, v in rows))


def _book(assumed_spread_bps: float | None) -> str:
    if assumed_spread_bps is None:
        return "the recorded book (bid/ask at each tick)"
    return f"assumed: {assumed_spread_bps:g} bps spread around the bar close (no book data)"


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.stem.replace("_", " "))
    return (
        f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
        f"<figcaption>{name}</figcaption></figure>"
    )


def render_html(report: BacktestReport, meta: Mapping[str, Any], plots: Sequence[Path]) -> str:
    title = html.escape(f"Backtest of {meta.get('model', {}).get('source', 'a model')}")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body>\n"
        f"<p><strong>{title}</strong></p>\n{_run_table(meta)}\n"
        f"{markdown_to_html(report.to_markdown())}\n"
        "<h2>Plots</h2>\n" + "\n".join(_figure(p) for p in plots) + "\n</body></html>\n"
    )


def write_html(
    report: BacktestReport, meta: Mapping[str, Any], plots: Sequence[Path], path: Path
) -> Path:
    path.write_text(render_html(report, meta, plots), encoding="utf-8")
    return path


def _num(value: float, fmt: str = "+.2f") -> str:
    return format(value, fmt) if math.isfinite(value) else "—"


def _with_ci(report: BacktestReport, scorer: str, metric: str) -> str:
    value = float(report.metrics[scorer][metric])
    ci = report.intervals.get(scorer, {}).get(metric)
    if ci is None or not math.isfinite(value):
        return _num(value)
    return f"{_num(value)} [{_num(ci['ci_low'])}, {_num(ci['ci_high'])}]"


def summary_table(report: BacktestReport) -> str:
    """The compact table: per scorer, label-policy net bps per trade [CI], hold-to-H [CI],
    hit rate, direction right, trades; then model − baseline (ROC-AUC, precision@K, net bps)
    and model − random (net bps), each with its CI."""
    k = report.config["k"]
    ci = f"{report.config['ci']:.0%} CI"
    header = (
        "",
        f"net bps/trade, label policy [{ci}]",
        f"hold to H [{ci}]",
        "hit rate",
        "direction right",
        "trades",
    )
    rows = [header]
    for scorer in SCORERS:
        m = report.metrics[scorer]
        rows.append(
            (
                scorer,
                _with_ci(report, scorer, "policy_net_bps"),
                _with_ci(report, scorer, "hold_net_bps"),
                _num(float(m["policy_hit_rate"]), ".3f"),
                _num(float(m["direction_accuracy"]), ".3f"),
                str(int(m["policy_trades"])),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.append("")
    for name, metric, table in (
        ("model − baseline", "roc_auc", report.deltas),
        ("model − baseline", "precision_at_k", report.deltas),
        ("model − baseline", "policy_net_bps", report.deltas),
        ("model − random", "policy_net_bps", report.vs_random),
    ):
        d = table[metric]
        label = f"precision@{k}" if metric == "precision_at_k" else metric
        fmt = "+.2f" if metric.endswith("bps") else "+.4f"
        verdict = (
            "better"
            if d["better"]
            else "worse"
            if float(d["ci_high"]) < 0
            else "no significant difference"
        )
        lines.append(
            f"{name:<17} {label:<15} {_num(float(d['estimate']), fmt):>9} "
            f"[{_num(float(d['ci_low']), fmt)}, {_num(float(d['ci_high']), fmt)}]  {verdict}"
        )
    lines.append(
        f"rows {report.n_rows}, ticks {report.n_ticks}, base rate {report.base_rate:.4f}, "
        f"K = {k}, bootstrap {report.config['n_boot']} (seed {report.config['seed']})"
    )
    return "\n".join(lines)


def print_headline(report_json: Path, where: str) -> None:
    """The backtest's trading headline, whatever its sign: label-policy net bps per trade,
    direction accuracy, trades, with CIs, for the model, the baseline and random picks."""
    report = json.loads(report_json.read_text())
    metrics, intervals = report["metrics"], report.get("intervals", {})

    def cell(scorer: str, metric: str, fmt: str) -> str:
        value = metrics.get(scorer, {}).get(metric)
        if value is None or value != value:
            return "unknown"
        ci = intervals.get(scorer, {}).get(metric)
        text = format(value, fmt)
        if ci and ci["ci_low"] == ci["ci_low"]:
            text += f" [{format(ci['ci_low'], fmt)}, {format(ci['ci_high'], fmt)}]"
        return text

    print(f"    {where} (label policy: barrier, else exit at t+H):", flush=True)
    for scorer in ("model", "baseline", "random"):
        trades = metrics.get(scorer, {}).get("policy_trades", 0)
        print(
            f"      {scorer:<9} net {cell(scorer, 'policy_net_bps', '+.1f')} bps/trade, "
            f"hold-to-H {cell(scorer, 'hold_net_bps', '+.1f')}, "
            f"direction right {cell(scorer, 'direction_accuracy', '.1%')}, "
            f"{trades:.0f} trades",
            flush=True,
        )
    delta = report["deltas"].get("policy_net_bps", {})
    if delta and delta["estimate"] != delta["estimate"]:  # NaN: one side made no trade
        print("      model − baseline net: unknown (a side made no trade)", flush=True)
    elif delta:
        print(
            f"      model − baseline net {delta['estimate']:+.1f} bps/trade "
            f"[{delta['ci_low']:+.1f}, {delta['ci_high']:+.1f}]",
            flush=True,
        )
