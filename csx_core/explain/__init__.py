"""LLM explanations that never invent a number: evidence, prompt, template and guardrails.

Pure: no SDK, no clock, no environment. The async explainers live in the live runtime.
"""

from csx_core.explain.binding import explanation_matches, row_matches, same_direction
from csx_core.explain.cache import CacheKey, TTLCache, cache_key
from csx_core.explain.evidence import build_evidence, reason_evidence
from csx_core.explain.guardrails import (
    DEFAULT_POLICY,
    GuardrailPolicy,
    Rejection,
    Verdict,
    check_answer,
    check_explanation,
    guard,
)
from csx_core.explain.numbers import evidence_numbers, evidence_windows, tokenize
from csx_core.explain.prompt import (
    STATUS_LABELS,
    SYSTEM_PROMPT,
    Answer,
    AnswerFormatError,
    Prompt,
    build_prompt,
    evidence_json,
    parse_answer,
)
from csx_core.explain.template import (
    DEFAULT_THRESHOLDS,
    StatusThresholds,
    format_value,
    template_output,
    template_status,
    template_text,
    written_for,
)

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_THRESHOLDS",
    "STATUS_LABELS",
    "SYSTEM_PROMPT",
    "Answer",
    "AnswerFormatError",
    "CacheKey",
    "GuardrailPolicy",
    "Prompt",
    "Rejection",
    "StatusThresholds",
    "TTLCache",
    "Verdict",
    "build_evidence",
    "build_prompt",
    "cache_key",
    "check_answer",
    "check_explanation",
    "evidence_json",
    "evidence_numbers",
    "evidence_windows",
    "explanation_matches",
    "format_value",
    "guard",
    "parse_answer",
    "reason_evidence",
    "row_matches",
    "same_direction",
    "template_output",
    "template_status",
    "template_text",
    "tokenize",
    "written_for",
]
