"""The fault-injection soak of the live runner (``csx soak run``; the nightly soak job).

``run_soak(data_dir=, minutes=, profile=)`` starts ``csx exchange`` replaying a simulated
market under the schedule of ``build_plan`` and ``csx live`` against it, samples
``/metrics``, ``/readyz`` and RSS every second, and returns the ``SoakSummary`` that
``csx_core.soak.check_summary`` judges.
"""

from csx_live.soak.measures import Sample, parse_prometheus, summarize
from csx_live.soak.runner import run_soak
from csx_live.soak.schedule import FaultStep, SoakPlan, build_plan

__all__ = [
    "FaultStep",
    "Sample",
    "SoakPlan",
    "build_plan",
    "parse_prometheus",
    "run_soak",
    "summarize",
]
