"""Resources: where the data lake is and which MLflow tracking store holds the models."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from csx_core.store import EventStore
from csx_pipelines.registry import ModelRegistry, default_artifact_location, default_tracking_uri


class LakeResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The local data lake: the event store, derived tables and training outputs."""

    data_dir: str = "data"

    @property
    def root(self) -> Path:
        return Path(self.data_dir).resolve()

    def events(self) -> EventStore:
        return EventStore(self.root / "events")

    def path(self, *parts: str) -> Path:
        target = self.root.joinpath(*parts)
        target.mkdir(parents=True, exist_ok=True)
        return target


class RegistryResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The MLflow tracking store; empty ``tracking_uri`` means sqlite under the data dir."""

    tracking_uri: str = ""
    model_name: str = "csx-inplay"
    data_dir: str = "data"

    def registry(self) -> ModelRegistry:
        data = Path(self.data_dir)
        uri = self.tracking_uri or default_tracking_uri(data)
        # A tracking server decides where artifacts go; a local store keeps them in the lake
        # (MLflow's own default would be ./mlruns in whatever directory the process runs in).
        served = uri.startswith(("http://", "https://"))
        return ModelRegistry(
            uri,
            model_name=self.model_name,
            artifact_location=None if served else default_artifact_location(data),
        )
