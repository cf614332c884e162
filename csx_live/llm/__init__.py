"""LLM explanations for the live runner and the backtest report (async, off the hot path)."""

from csx_live.llm.explainers import (
    AnthropicExplainer,
    ExplainLLM,
    MockExplainer,
    UpstreamError,
    UpstreamKind,
    classify,
)
from csx_live.llm.factory import make_explainer
from csx_live.llm.metrics import ExplainMetrics
from csx_live.llm.service import ExplainService, Fallback, RequestOutcome
from csx_live.llm.settings import (
    API_KEY_ENV,
    AnthropicSettings,
    ServiceSettings,
    SettingsError,
    api_key_from_env,
)

__all__ = [
    "API_KEY_ENV",
    "AnthropicExplainer",
    "AnthropicSettings",
    "ExplainLLM",
    "ExplainMetrics",
    "ExplainService",
    "Fallback",
    "MockExplainer",
    "RequestOutcome",
    "ServiceSettings",
    "SettingsError",
    "UpstreamError",
    "UpstreamKind",
    "api_key_from_env",
    "classify",
    "make_explainer",
]
