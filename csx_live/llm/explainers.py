"""The ``ExplainLLM`` seam: a mock that speaks the template and the real Anthropic client.

An explainer turns one evidence packet into a checked output. It either returns an output
(the LLM's text if it passed the guardrails, else the template with ``rejected`` set) or
raises :class:`UpstreamError` when the API could not answer; retries, timeouts, the breaker
and the fallback for those live in :class:`~csx_live.llm.service.ExplainService`.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Protocol

from csx_core.contracts.explain import LLMExplainInput, LLMExplainOutput
from csx_core.explain import (
    DEFAULT_POLICY,
    DEFAULT_THRESHOLDS,
    GuardrailPolicy,
    StatusThresholds,
    build_prompt,
    guard,
    template_output,
)
from csx_live.llm.settings import AnthropicSettings

if TYPE_CHECKING:  # the SDK costs ~3 s of CPU to import: only AnthropicExplainer loads it
    import anthropic

log = logging.getLogger(__name__)


class ExplainLLM(Protocol):
    async def explain(self, evidence: LLMExplainInput) -> LLMExplainOutput: ...

    async def aclose(self) -> None: ...


class UpstreamKind(enum.StrEnum):
    """Why the API gave no answer (a metric label)."""

    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    CONNECTION = "connection"
    TIMEOUT = "timeout"


_RETRYABLE = frozenset(
    {
        UpstreamKind.RATE_LIMITED,
        UpstreamKind.OVERLOADED,
        UpstreamKind.SERVER_ERROR,
        UpstreamKind.CONNECTION,
    }
)


class UpstreamError(Exception):
    """The API did not answer. ``retry_after_s`` carries a server's Retry-After, if any."""

    def __init__(self, kind: UpstreamKind, detail: str = "", retry_after_s: float | None = None):
        super().__init__(f"{kind.value}: {detail}" if detail else kind.value)
        self.kind = kind
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.kind in _RETRYABLE


class MockExplainer:
    """Deterministic, offline: the template. The default when no API key is configured."""

    def __init__(self, thresholds: StatusThresholds = DEFAULT_THRESHOLDS) -> None:
        self._thresholds = thresholds

    async def explain(self, evidence: LLMExplainInput) -> LLMExplainOutput:
        return template_output(evidence, thresholds=self._thresholds)

    async def aclose(self) -> None:
        return None


def _retry_after_s(exc: anthropic.APIStatusError) -> float | None:
    raw = exc.response.headers.get("retry-after")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


def classify(exc: anthropic.APIError) -> UpstreamError:
    """Map an SDK error to an :class:`UpstreamError` (429 and 529/5xx are retryable)."""
    import anthropic

    if isinstance(exc, anthropic.APITimeoutError):
        return UpstreamError(UpstreamKind.TIMEOUT, "SDK timeout")
    if isinstance(exc, anthropic.APIStatusError):
        code = exc.status_code
        if code == 429:
            return UpstreamError(UpstreamKind.RATE_LIMITED, "429", _retry_after_s(exc))
        if code == 529:
            return UpstreamError(UpstreamKind.OVERLOADED, "529", _retry_after_s(exc))
        if code >= 500:
            return UpstreamError(UpstreamKind.SERVER_ERROR, str(code))
        return UpstreamError(UpstreamKind.CLIENT_ERROR, str(code))
    return UpstreamError(UpstreamKind.CONNECTION, type(exc).__name__)


class AnthropicExplainer:
    """Claude through the official SDK (``AsyncAnthropic``), behind the guardrails.

    The SDK's own retries are off (``max_retries=0``): the service owns retries so that its
    backoff, breaker and metrics see every attempt.
    """

    def __init__(
        self,
        settings: AnthropicSettings,
        *,
        api_key: str,
        policy: GuardrailPolicy = DEFAULT_POLICY,
        thresholds: StatusThresholds = DEFAULT_THRESHOLDS,
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._thresholds = thresholds
        import anthropic

        temperature = settings.temperature
        self._extra_body = None if temperature is None else {"temperature": temperature}
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=0,
        )

    @property
    def settings(self) -> AnthropicSettings:
        return self._settings

    async def explain(self, evidence: LLMExplainInput) -> LLMExplainOutput:
        import anthropic

        prompt = build_prompt(evidence)
        try:
            message = await self._client.messages.create(
                model=self._settings.model,
                max_tokens=self._settings.max_tokens,
                system=prompt.system,
                messages=[{"role": "user", "content": prompt.user}],
                extra_body=self._extra_body,
            )
        except anthropic.APIError as exc:
            raise classify(exc) from exc
        raw = "".join(block.text for block in message.content if block.type == "text")
        output, verdict = guard(evidence, raw, policy=self._policy, thresholds=self._thresholds)
        if verdict.rejection is not None:
            log.info(
                "llm answer rejected",
                extra={
                    "symbol": evidence.symbol,
                    "reason": verdict.rejection.value,
                    "detail": verdict.detail,
                },
            )
        return output

    async def aclose(self) -> None:
        await self._client.close()
