"""What a soak run measured, and the thresholds it must stay within."""

from csx_core.soak.summary import SoakSummary
from csx_core.soak.thresholds import (
    DEFAULT_THRESHOLDS,
    Threshold,
    ThresholdResult,
    check_summary,
    format_results,
    load_thresholds,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "SoakSummary",
    "Threshold",
    "ThresholdResult",
    "check_summary",
    "format_results",
    "load_thresholds",
]
