"""Explanation guardrails and the live request path: cost per answer and per tick call.

Subject 1: ``check_explanation`` (tokenizer + unit-aware rounding match + symbol/markup checks)
against a naive reference (regex every digit run, look it up in a set of the evidence's
numbers printed two ways). Subject 2: ``ExplainService.request`` — the only call the live tick
makes — with the mock explainer, as per-call latency. Subject 3: ``row_matches`` — run for
every ranked row each tick (API and dashboard) to decide whether its explanation is still
served — against comparing the template's rendered numbers as strings.
"""

from __future__ import annotations

import asyncio
import json
import re

from prometheus_client import CollectorRegistry

from benchmarks.harness import latency_percentiles, measure, report, report_latency
from csx_core.contracts import (
    CostBreakdown,
    Direction,
    LLMExplainInput,
    ReasonCode,
    ReasonEvidence,
)
from csx_core.explain import (
    check_answer,
    evidence_numbers,
    row_matches,
    template_output,
    template_text,
)

EVIDENCE = LLMExplainInput(
    symbol="SOLUSDT",
    ts=1,
    p_inplay=0.41237,
    direction=Direction.UP,
    direction_confidence=0.63,
    backtest_net_edge_bps=12.3,
    reasons=(
        ReasonEvidence(code=ReasonCode.VOLUME_SURGE, feature="vol_z_5m", value=4.2137),
        ReasonEvidence(code=ReasonCode.BTC_DECOUPLING, feature="btc_corr_1h", value=0.0123),
        ReasonEvidence(code=ReasonCode.LARGE_TRADE, feature="max_trade_usd_1m", value=125_400.0),
    ),
    costs=CostBreakdown(
        fee_bps=4.0, half_spread_bps=0.5, slippage_bps=1.2, funding_bps=-0.3, total_bps=5.4
    ),
)
ANSWERS = [
    json.dumps({"status": "WATCH", "text": template_text(EVIDENCE)}),
    json.dumps({"status": "WATCH", "text": "SOLUSDT is 41% likely in play, edge 12.3 bps."}),
    json.dumps({"status": "WATCH", "text": "SOLUSDT is 45% likely in play."}),
    json.dumps({"status": "IN_PLAY", "text": "SOLUSDT moves with ETHUSDT on 4.2x volume."}),
]
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def naive_check(raw: str) -> bool:
    """Reference: exact string lookup of every digit run; no units, rounding or names."""
    text = json.loads(raw)["text"]
    known = set()
    for n in evidence_numbers(EVIDENCE):
        known.update({f"{abs(n.value):g}", f"{abs(n.value):.2f}"})
    return all(m in known for m in _DIGITS.findall(text))


def run(*, quick: bool) -> None:
    rounds = 200 if quick else 2000
    answers = ANSWERS * rounds

    def subject() -> None:
        for raw in answers:
            check_answer(EVIDENCE, raw)

    def reference() -> None:
        for raw in answers:
            naive_check(raw)

    report(
        "guardrails per LLM answer",
        measure("check_answer", subject, items=len(answers), repeat=3),
        measure("naive digit lookup (reference)", reference, items=len(answers), repeat=3),
        "answers",
    )
    _binding(rows=2_000 if quick else 20_000)
    asyncio.run(_request_latency(calls=2_000 if quick else 20_000))


def _binding(*, rows: int) -> None:
    output = template_output(EVIDENCE)
    moved = [
        LLMExplainInput(
            **{
                **{f: getattr(EVIDENCE, f) for f in EVIDENCE.__struct_fields__},
                "p_inplay": 0.40 + 0.0001 * (i % 200),
            }
        )
        for i in range(rows)
    ]

    def rendered(e: LLMExplainInput) -> tuple[str, str, str]:
        edge = e.backtest_net_edge_bps
        return (f"{e.p_inplay * 100:.0f}", e.direction.value, "" if edge is None else f"{edge:.1f}")

    key = rendered(EVIDENCE)

    def subject() -> None:
        for row in moved:
            row_matches(output, row)

    def reference() -> None:
        for row in moved:
            _ = rendered(row) == key

    report(
        "explanation still matches its row (per ranked row per tick)",
        measure("row_matches", subject, items=rows, repeat=3),
        measure("rendered-string compare (reference)", reference, items=rows, repeat=3),
        "rows",
    )


async def _request_latency(*, calls: int) -> None:
    from csx_live.llm import ExplainService, MockExplainer, ServiceSettings

    service = ExplainService(
        MockExplainer(),
        registry=CollectorRegistry(),
        settings=ServiceSettings(queue_size=256, cache_ttl_s=0.0),
    )
    symbols = [f"S{i}USDT" for i in range(500)]
    packets = [
        LLMExplainInput(
            **{**{f: getattr(EVIDENCE, f) for f in EVIDENCE.__struct_fields__}, "symbol": s}
        )
        for s in symbols
    ]
    i = 0

    def call() -> None:
        nonlocal i
        service.request(packets[i % len(packets)])
        i += 1

    print("\n## ExplainService.request (the tick's only call; no workers running)")
    report_latency("request()", latency_percentiles(call, calls=calls))
    await service.aclose()
