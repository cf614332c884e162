"""``csx backtest``: a model package evaluated on an event store, the way the monitoring
asset evaluates the champion.

Stages: fetch and verify the package (a directory, or an MLflow ``models:/`` URI resolved
through :class:`csx_pipelines.registry.ModelRegistry`), replay the store through the one
``FeatureEngine`` (``csx_core.replay``), label the evaluated days with the package's own
label definition and cost model, and call :func:`csx_core.ml.evaluate.backtest_package` —
the function ``champion_backtest`` calls — so the numbers are the asset's on the same data.

The replay starts one UTC day before ``start``: the pipeline replays the store as one
continuous stream, so the first hour of a day is warm from the day before; starting the
replay at ``start`` would leave that hour cold and drop its rows. Only the feature files of
the days in [start, end] are labelled (a label's forward window stops at the last evaluated
day, as the asset's does at its newest day).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from csx_core.cli import CommandError
from csx_core.ml.backtest import BacktestConfig, BacktestReport
from csx_core.ml.package import PackagedScorer

MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")
"""``models:/<name>@<alias>`` or ``models:/<name>/<version>`` (the grammar the live runner
accepts, ``csx_live.model``)."""
DIGEST_TAG = "package_digest"
"""The version tag the pipeline records the package digest under (``stages.register_package``)."""
WARMUP = timedelta(days=1)
WARM_HINT = (
    "the engine needs >= 1 h of data per symbol before a row is warm, and a row needs its "
    "label horizon of data after it"
)


@dataclass(frozen=True)
class ModelSource:
    """Where the evaluated package came from (``version``/``alias`` empty for a directory)."""

    source: str
    package: PackagedScorer
    version: str = ""
    alias: str = ""

    def describe(self) -> dict[str, str]:
        return {
            "source": self.source,
            "version": self.version,
            "alias": self.alias,
            "model_id": self.package.model_id,
            "package_digest": self.package.digest,
            "feature_version": self.package.feature_version,
            "cost_version": self.package.cost.version,
        }


@dataclass(frozen=True)
class BacktestSettings:
    model: str
    store: Path
    out: Path
    tracking_uri: str = ""
    start: date | None = None
    end: date | None = None
    symbols: tuple[str, ...] | None = None
    stride_s: int = 10
    config: BacktestConfig = field(default_factory=BacktestConfig)


@dataclass(frozen=True)
class BacktestRun:
    report: BacktestReport
    model: ModelSource
    days: tuple[str, ...]
    labelled_rows: int
    replay: dict[str, Any]
    seconds: dict[str, float]
    files: tuple[Path, ...] = ()

    def describe(self, settings: BacktestSettings) -> dict[str, Any]:
        return {
            "model": self.model.describe(),
            "store": str(settings.store),
            "start": settings.start.isoformat() if settings.start else None,
            "end": settings.end.isoformat() if settings.end else None,
            "symbols": list(settings.symbols) if settings.symbols else None,
            "days": list(self.days),
            "stride_s": settings.stride_s,
            "cadence_s": self.model.package.engine_config.cadence_s,
            "horizon_s": self.model.package.horizon_s,
            "assumed_spread_bps": self.model.package.label_config.assumed_spread_bps,
            "labelled_rows": self.labelled_rows,
            "evaluated_rows": self.report.n_rows,
            "replay": self.replay,
            "seconds": self.seconds,
        }


class Progress:
    """Per-stage lines with the elapsed time on ``stream`` (stderr: stdout holds the table)."""

    def __init__(
        self, stream: IO[str] | None = None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.began = clock()
        self.seconds: dict[str, float] = {}

    def say(self, message: str) -> None:
        print(f"[{self.clock() - self.began:7.1f} s] {message}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str, what: str) -> Iterator[None]:
        self.say(f"{name}: {what} ...")
        t0 = self.clock()
        yield
        self.seconds[name] = round(self.clock() - t0, 3)
        self.say(f"{name}: done in {self.seconds[name]:.1f} s")


def check_source(source: str) -> re.Match[str] | None:
    """The parsed ``models:/`` URI, or None for an existing package directory; anything
    else is an error before any work starts."""
    match = MODELS_URI.match(source)
    if match is None and source.startswith("models:/"):
        raise CommandError(
            f"cannot parse model URI {source!r} (models:/<name>@<alias> or models:/<name>/<N>)"
        )
    if match is None and not Path(source).is_dir():
        raise CommandError(f"--model {source}: no such package directory")
    return match


def fetch_model(source: str, tracking_uri: str, scratch: Path) -> ModelSource:
    """Load and verify the package ``source`` names; an MLflow version is downloaded into
    ``scratch`` and its digest checked against the one recorded when it was registered."""
    from csx_core.ml.package import load_package

    match = check_source(source)
    if match is None:
        return ModelSource(source, load_package(Path(source)))
    from csx_pipelines.registry import ModelRegistry

    name, alias = match["name"], match["alias"] or ""
    try:
        versions = ModelRegistry(tracking_uri, model_name=name).versions()
        if not versions:
            raise CommandError(f"no registered model {name!r} in {tracking_uri}")
        if alias:
            found = next((v for v in versions if alias in v.aliases), None)
            if found is None:
                raise CommandError(f"model {name!r} has no version with alias {alias!r}")
        else:
            found = next((v for v in versions if v.version == match["version"]), None)
            if found is None:
                raise CommandError(f"model {name!r} has no version {match['version']}")
        path = ModelRegistry(tracking_uri, model_name=name).download(found.version, scratch)
    except Exception as exc:  # MLflow's own errors (imported lazily): one line
        if type(exc).__name__ != "MlflowException":
            raise
        raise CommandError(f"cannot fetch {source}: {exc}") from exc
    package = load_package(path)
    recorded = str(found.tags.get(DIGEST_TAG, "")).strip().lower()
    if recorded and recorded != package.digest:
        raise CommandError(
            f"{source} (version {found.version}): package digest {package.digest} differs "
            f"from the {recorded} recorded when it was registered; refusing it"
        )
    return ModelSource(source, package, found.version, alias)


def _announce(
    batches: Iterator[dict[str, pa.Table]], progress: Progress
) -> Iterator[Mapping[str, pa.Table]]:
    for batch in batches:
        events = sum(t.num_rows for t in batch.values())
        progress.say(f"replay: {events} events of {_batch_day(batch)}")
        yield batch


def _batch_day(batch: Mapping[str, pa.Table]) -> str:
    for table in batch.values():
        if table.num_rows:
            ns = int(table.column("ts_event")[0].as_py())
            return (date(1970, 1, 1) + timedelta(days=ns // 86_400_000_000_000)).isoformat()
    return "an empty day"


def _day_of(path: Path) -> date:
    return date.fromisoformat(path.parent.name.removeprefix("date="))


def _evaluated(files: Sequence[Path], start: date | None, end: date | None) -> list[Path]:
    return [
        f
        for f in files
        if (start is None or _day_of(f) >= start) and (end is None or _day_of(f) <= end)
    ]


def _check_features(package: PackagedScorer, first_file: Path) -> None:
    from csx_core.ml.dataset import feature_names_of

    produced = set(feature_names_of(first_file))
    missing = [n for n in package.feature_names if n not in produced]
    if missing:
        raise CommandError(
            f"the model reads {len(missing)} feature(s) this replay does not produce "
            f"({', '.join(missing[:5])}{', …' if len(missing) > 5 else ''}); it was trained "
            f"on feature version {package.feature_version}"
        )


def _span(settings: BacktestSettings) -> str:
    if settings.start is None and settings.end is None:
        return "every stored day"
    return f"{settings.start or 'the first day'} .. {settings.end or 'the last day'}"


def run_backtest(settings: BacktestSettings, progress: Progress) -> BacktestRun:
    """Every stage (see the module docstring); writes report.json, report.md, the plots,
    report.html and run.json under ``settings.out``."""
    from csx_core.ml.dataset import feature_files
    from csx_core.ml.evaluate import NothingToEvaluateError, backtest_package, label_files
    from csx_core.ml.train import write_report
    from csx_core.replay import replay_batches, store_batches
    from csx_pipelines.backtest_report import write_html

    if settings.start and settings.end and settings.start > settings.end:
        raise CommandError(f"--start {settings.start} is after --end {settings.end}")
    check_source(settings.model)
    settings.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".backtest-", dir=settings.out) as scratch_dir:
        scratch = Path(scratch_dir)
        with progress.stage("model", f"loading {settings.model}"):
            model = fetch_model(settings.model, settings.tracking_uri, scratch / "model")
        progress.say(
            f"model: {model.package.model_id}"
            + (f" (version {model.version})" if model.version else "")
            + f", horizon {model.package.horizon_s} s"
            + f", ticks {model.package.engine_config.cadence_s} s apart"
            + _spread_note(model.package)
        )
        replay_from = settings.start - WARMUP if settings.start else None
        who = ",".join(settings.symbols) if settings.symbols else "all symbols"
        warmup = f", warm-up from {replay_from}" if replay_from else ""
        with progress.stage("replay", f"{settings.store} ({who}), {_span(settings)}{warmup}"):
            batches = store_batches(
                settings.store, start=replay_from, end=settings.end, symbols=settings.symbols
            )
            result = replay_batches(
                _announce(batches, progress),
                out=scratch / "features",
                config=model.package.engine_config,
            )
        if result.events == 0:
            raise CommandError(f"no events for {who} in {settings.store} over {_span(settings)}")
        files = _evaluated(feature_files(scratch / "features"), settings.start, settings.end)
        if not files:
            raise CommandError(f"no replayed ticks over {_span(settings)} in {settings.store}")
        _check_features(model.package, files[0])
        days = tuple(_day_of(f).isoformat() for f in files)
        with progress.stage("label", f"{len(days)} day(s), one tick in {settings.stride_s} s"):
            labelled = label_files(model.package, files, stride_s=settings.stride_s)
        cfg = settings.config
        with progress.stage(
            "score+bootstrap",
            f"{labelled.num_rows} labelled rows, {cfg.n_boot} resamples × {cfg.n_blocks} blocks",
        ):
            try:
                report = backtest_package(model.package, labelled, cfg)
            except NothingToEvaluateError as exc:
                raise CommandError(f"{exc}: {WARM_HINT}") from exc
    with progress.stage("write", f"reports under {settings.out}"):
        plots = write_report(report, None, settings.out)
        run = BacktestRun(
            report=report,
            model=model,
            days=days,
            labelled_rows=labelled.num_rows,
            replay={
                "digest": result.digest,
                "events": result.events,
                "rows": result.rows,
                "from": replay_from.isoformat() if replay_from else None,
            },
            seconds=progress.seconds,
        )
        meta = run.describe(settings)
        html = write_html(report, meta, plots, settings.out / "report.html")
        run_json = settings.out / "run.json"
        run_json.write_text(_dumps(meta))
    written = (settings.out / "report.json", settings.out / "report.md", *plots, html, run_json)
    return replace(run, files=written)


def _spread_note(package: PackagedScorer) -> str:
    spread = package.label_config.assumed_spread_bps
    return "" if spread is None else f", book assumed: {spread:g} bps spread around the close"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"
