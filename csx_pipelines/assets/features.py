"""features: every stored market day replayed through the one FeatureEngine."""

import dagster as dg

from csx_pipelines.assets.market import market_events
from csx_pipelines.resources import LakeResource

GROUP = "features"


class FeatureConfig(dg.Config):
    """How the store is replayed. ``cadence_s``: seconds between ticks, 1..60 or a bar
    cadence (whole minutes up to 3600, e.g. 3600 for hourly bars); the gap and staleness
    rules (seconds) default to two bars at a bar cadence, else the engine's."""

    cadence_s: int = 1
    gap_after_s: int | None = None
    stale_after_s: int | None = None


@dg.asset(group_name=GROUP, deps=[market_events], kinds={"parquet"})
def feature_snapshots(
    context: dg.AssetExecutionContext, config: FeatureConfig, lake: LakeResource
) -> dg.MaterializeResult[None]:
    """One continuous event-time replay over every stored day (so windows cross midnight
    exactly as they do live), written as the wide training table, with its digest."""
    from csx_core.features.config import EngineConfig
    from csx_pipelines.stages import replay_features

    engine = EngineConfig.for_cadence(config.cadence_s, config.gap_after_s, config.stale_after_s)
    result = replay_features(lake.root, engine)
    return dg.MaterializeResult(
        metadata={
            "digest": result.digest,
            "rows": result.rows,
            "ticks": result.ticks,
            "events": result.events,
            "late_events": result.late_events,
            "feature_version": result.feature_version,
            "cadence_s": engine.cadence_s,
            "files": dg.MetadataValue.json(list(result.files)),
        }
    )


@dg.asset_check(asset=feature_snapshots, blocking=True)
def features_nan_and_staleness(lake: LakeResource) -> dg.AssetCheckResult:
    """Warm, gap-free rows must be mostly computable: the NaN share of each core feature and
    the share of stale rows stay under their bounds."""
    from csx_pipelines.stages import feature_health

    health = feature_health(lake.root / "features", lake.root / "events")
    return dg.AssetCheckResult(
        passed=health.passed, metadata={"health": dg.MetadataValue.json(health.metadata())}
    )


@dg.asset_check(asset=feature_snapshots, blocking=True)
def replay_determinism(lake: LakeResource) -> dg.AssetCheckResult:
    """The same events replayed twice, in two processes' worth of fresh engines, give the
    same snapshot digest."""
    from csx_pipelines.stages import replay_twice

    first, second = replay_twice(lake.root)
    return dg.AssetCheckResult(passed=first == second, metadata={"first": first, "second": second})
