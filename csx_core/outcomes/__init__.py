"""Live outcome resolution: label every live prediction at t+H exactly as training labels
rows, keep rolling Brier / ECE / top-K hit rate per role, and score a shadow challenger."""

from csx_core.outcomes.predictions import CHALLENGER, CHAMPION, PredictionBatch
from csx_core.outcomes.resolver import OutcomeResolver, Resolved, ResolverConfig, label_values
from csx_core.outcomes.shadow import ShadowScorer, label_config_of
from csx_core.outcomes.window import COUNTER_NAMES, GAUGE_NAMES, LiveMetrics, RollingOutcomes

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "COUNTER_NAMES",
    "GAUGE_NAMES",
    "LiveMetrics",
    "OutcomeResolver",
    "PredictionBatch",
    "Resolved",
    "ResolverConfig",
    "RollingOutcomes",
    "ShadowScorer",
    "label_config_of",
    "label_values",
]
