"""Explanations of the backtest's top alerts, for the ``backtest_report`` asset's markdown.

The top alerts are the test-fold rows with the highest calibrated probability (each fold's
rows scored by that fold's calibrated model, which never saw them). Each gets the same
evidence packet the live runner builds (``csx_core.explain``: symbol, p, direction or "either
way", the backtest net edge of the row's bucket from the backtest's edge table — unknown
without one —, reason codes with their feature values, the cost breakdown from the same
``CostModel``) and a checked explanation.

Which explainer: by default the pure deterministic template
(``csx_core.explain.template_output``), so the asset needs no network and stays
reproducible, and ``csx_pipelines`` does not import ``csx_live`` (DESIGN allows that only for
the soak). When an Anthropic API key is passed in ``environ`` (the asset hands over
``os.environ``), ``csx_live.llm`` is imported lazily and its ``ExplainService`` explains the
packets with the same guardrails, timeouts, retries and template fallback as live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from csx_core.contracts import FeatureSnapshot, LLMExplainInput
from csx_core.contracts.explain import LLMExplainOutput
from csx_core.explain import build_evidence, reason_evidence, template_output
from csx_core.explain.mapping import feature_for_codes
from csx_core.explain.template import DIRECTION_WORDS, signed_bps
from csx_core.ml.costs import CostModel, CostModelError
from csx_core.ml.edge import EdgeTable
from csx_core.ml.labels import LabelConfig, book_prices
from csx_core.ml.scorer import prediction as scored_prediction
from csx_core.ml.train import Dataset, FittedFold

API_KEY_ENV = "ANTHROPIC_API_KEY"
"""Same variable ``csx_live.llm`` reads (not imported from there: see the module doc)."""


def top_alert_evidence(
    ds: Dataset,
    fitted: Sequence[FittedFold],
    cost: CostModel,
    *,
    n: int = 5,
    edge: EdgeTable | None = None,
    assumed_spread_bps: float | None = None,
) -> list[LLMExplainInput]:
    """Evidence packets of the ``n`` test-fold rows with the highest calibrated p (ties by
    row order), best first; rows whose book cannot be priced are skipped. Each row's
    backtest net edge is the one ``edge`` (the backtest's model edge table) gives its
    probability and confidence bucket, read through the scorer like live; without a table,
    or where its bucket has too few trades, the edge is unknown."""
    x = ds.x
    none = np.empty(0, dtype=np.int64)
    rows: list[tuple[float, int, int]] = []
    for k, ff in enumerate(fitted):
        test = ff.fold.test
        if len(test) == 0:
            continue
        p = ff.scorer().score(x[test], reason_rows=none).p
        best = np.argsort(-p, kind="stable")[:n]
        rows.extend((float(p[j]), int(test[j]), k) for j in best)
    rows.sort(key=lambda r: (-r[0], r[1]))
    table = ds.table
    symbols = table.column("symbol").to_pylist()
    ts = table.column("ts").to_numpy()
    _, bid, ask = book_prices(table, LabelConfig(assumed_spread_bps=assumed_spread_bps))
    feature_for = feature_for_codes(ds.names)
    out: list[LLMExplainInput] = []
    for _, row, k in rows:
        if len(out) == n:
            break
        scorer = fitted[k].scorer(edge)
        scores = scorer.score(x[row : row + 1])
        try:
            costs = cost.breakdown(float(bid[row]), float(ask[row]))
        except CostModelError:
            continue
        prediction = scored_prediction(
            scores,
            0,
            symbol=symbols[row],
            ts=int(ts[row]),
            model_id=scorer.model_id,
            reason_codes=scores.reasons[0],
        )
        features = FeatureSnapshot(
            symbol=prediction.symbol,
            ts=prediction.ts,
            feature_version=ds.feature_version,
            names=ds.names,
            values=tuple(float(v) for v in x[row]),
            warm=True,
            gap=False,
        )
        reasons = reason_evidence(prediction.reason_codes, features, feature_for)
        out.append(build_evidence(prediction, reasons, costs))
    return out


def explain_packets(
    evidence: Sequence[LLMExplainInput],
    environ: Mapping[str, str] | None = None,
    llm_settings: Mapping[str, object] | None = None,
) -> list[LLMExplainOutput]:
    """The template for each packet, or — with an API key in ``environ`` — the LLM through
    ``csx_live.llm`` (guardrails, timeouts, fallback to the template on any failure);
    ``llm_settings`` are ``AnthropicSettings`` fields (model, base_url, timeout_s, …)."""
    if not evidence:
        return []
    if not (environ or {}).get(API_KEY_ENV):
        return [template_output(e) for e in evidence]
    return asyncio.run(_explain_with_llm(evidence, environ or {}, llm_settings or {}))


async def _explain_with_llm(
    evidence: Sequence[LLMExplainInput],
    environ: Mapping[str, str],
    llm_settings: Mapping[str, object],
) -> list[LLMExplainOutput]:
    from prometheus_client import CollectorRegistry

    from csx_live.llm import AnthropicSettings, ExplainService, make_explainer

    service = ExplainService(
        make_explainer(AnthropicSettings.from_mapping(llm_settings), environ),
        registry=CollectorRegistry(),
    )
    async with service:
        return await service.explain_all(evidence)


def explanation_lines(
    evidence: Sequence[LLMExplainInput], outputs: Sequence[LLMExplainOutput]
) -> list[str]:
    """Markdown: a heading and one numbered item per top alert."""
    lines = ["## Top alerts, explained", ""]
    if not evidence:
        return [*lines, "No test-fold rows to explain.", ""]
    for i, (e, o) in enumerate(zip(evidence, outputs, strict=True), start=1):
        when = datetime.fromtimestamp(e.ts / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        codes = ", ".join(str(r.code) for r in e.reasons) or "none"
        text = o.text.replace("\n", " ")
        note = f"; LLM answer rejected: {o.rejected}" if o.rejected else ""
        edge = e.backtest_net_edge_bps
        edge_text = "unknown" if edge is None else f"{signed_bps(edge)} bps per trade"
        lines.append(
            f"{i}. **{e.symbol}** {when} UTC — p {e.p_inplay:.3f}, "
            f"{DIRECTION_WORDS[e.direction]}, backtest net edge {edge_text}, "
            f"cost {e.costs.total_bps:.1f} bps, reasons: {codes}"
        )
        lines.append(f"   {o.status.value}: {text} _({o.source.value}{note})_")
    lines.append("")
    return lines


def explain_top_alerts(
    ds: Dataset,
    fitted: Sequence[FittedFold],
    cost: CostModel,
    *,
    n: int = 5,
    edge: EdgeTable | None = None,
    environ: Mapping[str, str] | None = None,
    llm_settings: Mapping[str, object] | None = None,
    assumed_spread_bps: float | None = None,
) -> list[str]:
    """Markdown lines explaining the backtest's ``n`` top alerts (see the module doc);
    ``edge`` is the backtest's model edge table (``BacktestReport.edge_tables["model"]``)."""
    evidence = top_alert_evidence(
        ds, fitted, cost, n=n, edge=edge, assumed_spread_bps=assumed_spread_bps
    )
    return explanation_lines(evidence, explain_packets(evidence, environ, llm_settings))
