"""The single composition root of the Dagster code location (assets arrive with the platform
issue)."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
