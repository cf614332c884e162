"""Choose the explainer at the edge: Anthropic when a key is in the environment, else the mock."""

from __future__ import annotations

from collections.abc import Mapping

from csx_core.explain import (
    DEFAULT_POLICY,
    DEFAULT_THRESHOLDS,
    GuardrailPolicy,
    StatusThresholds,
)
from csx_live.llm.explainers import AnthropicExplainer, ExplainLLM, MockExplainer
from csx_live.llm.settings import AnthropicSettings, api_key_from_env


def make_explainer(
    settings: AnthropicSettings,
    environ: Mapping[str, str],
    *,
    policy: GuardrailPolicy = DEFAULT_POLICY,
    thresholds: StatusThresholds = DEFAULT_THRESHOLDS,
) -> ExplainLLM:
    """``environ`` is passed in (``os.environ`` by the composition root) so tests stay hermetic."""
    key = api_key_from_env(environ)
    if key is None:
        return MockExplainer(thresholds)
    return AnthropicExplainer(settings, api_key=key, policy=policy, thresholds=thresholds)
