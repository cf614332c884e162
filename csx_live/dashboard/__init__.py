"""The live dashboard: one static page fed by Server-Sent Events.

The runner builds a ``DashboardView`` each tick; ``add_dashboard_routes`` serves the page at
``/`` and pushes each new view on ``/api/stream``. The page renders only rows that changed
and writes every string with ``textContent``, so symbols and explanations (untrusted) can
never become markup.
"""

from csx_live.dashboard.model import (
    AlertRow,
    DashboardView,
    ExplanationFor,
    HealthStrip,
    Promise,
    RankRow,
    Realised,
    ReasonTag,
)
from csx_live.dashboard.routes import DASHBOARD_SOURCE, add_dashboard_routes

__all__ = [
    "DASHBOARD_SOURCE",
    "AlertRow",
    "DashboardView",
    "ExplanationFor",
    "HealthStrip",
    "Promise",
    "RankRow",
    "Realised",
    "ReasonTag",
    "add_dashboard_routes",
]
