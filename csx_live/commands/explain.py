"""``csx explain``: explain evidence packets (JSON lines) with the configured explainer.

Anthropic when ``ANTHROPIC_API_KEY`` is set, the deterministic template otherwise; every
answer passes the guardrails or falls back. Prints one ``LLMExplainOutput`` JSON per line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csx_core.cli import Command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "evidence", type=Path, nargs="?", help="JSON-lines file of LLMExplainInput (default stdin)"
    )
    parser.add_argument("--model", help="Anthropic model name")
    parser.add_argument("--base-url", help="Messages API base URL (e.g. a local fake)")
    parser.add_argument("--timeout-s", type=float, help="per-call timeout, seconds")
    parser.add_argument("--max-tokens", type=int, help="answer token limit")


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from prometheus_client import CollectorRegistry

    from csx_core.contracts import ContractError, LLMExplainInput
    from csx_live.llm import AnthropicSettings, ExplainService, SettingsError, make_explainer

    given = {
        "model": args.model,
        "base_url": args.base_url,
        "timeout_s": args.timeout_s,
        "max_tokens": args.max_tokens,
    }
    lines = (args.evidence.read_text() if args.evidence else sys.stdin.read()).splitlines()
    try:
        settings = AnthropicSettings.from_mapping({k: v for k, v in given.items() if v is not None})
        packets = [LLMExplainInput.from_json(line) for line in lines if line.strip()]
    except (SettingsError, ContractError) as exc:
        print(f"csx explain: {exc}", file=sys.stderr)
        return 2

    async def explain_all() -> None:
        explainer = make_explainer(settings, os.environ)
        async with ExplainService(explainer, registry=CollectorRegistry()) as service:
            for output in await service.explain_all(packets):
                print(output.to_json().decode())

    asyncio.run(explain_all())
    return 0


COMMAND = Command(
    name="explain",
    help="Explain evidence packets (LLM behind guardrails, or the template).",
    configure=_configure,
    run=_run,
)
