"""The main job end to end: simulate → Dagster materializes every asset → MLflow champion →
the fake exchange replays a held-out day → the live runner serves it.

Each stage prints what it did; the Dagster runs land in the local instance, so the UI shows
them afterwards (``csx ui dagster``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csx_pipelines.backtest_report import print_headline
from csx_pipelines.children import Stopped, signal_group, spawn, stop_group, stop_signals

if TYPE_CHECKING:
    import pyarrow as pa

    from csx_core.ml.costs import CostModel
    from csx_core.ml.labels import LabelConfig
    from csx_core.ml.package import PackagedScorer

HOLDOUT_SEED_OFFSET = 1000
# Dagster's console logger prints every step event at DEBUG; the run history (and the UI)
# keep them all, the terminal shows the demo's own progress lines.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class DemoSettings:
    data_dir: Path
    symbols: int = 20
    seconds: float = 20.0
    """Observed after the runner is ready."""
    speed: float = 30.0
    """Replay speed once the runner's warm-up history (``EngineConfig.warm_up_s`` of event
    time) has been fast-forwarded, as fast as the runner reads it. A 20-symbol runner on 2
    cores, beside the exchange, scores a tick in up to 25 ms (p99): at 100x (10 ms between
    ticks) it fell behind (110 ticks skipped, 1,084 late events in 20 s), and at 50x (20 ms)
    the exchange dropped it as a slow consumer in 2 of 3 runs (a gap, so parity broke). 30x
    leaves 33 ms per tick."""
    ready_timeout_s: float = 150.0
    port: int = 8080
    exchange_port: int = 9000
    keep_running: bool = False
    seed: int = 7


def stage(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def run_demo(settings: DemoSettings) -> int:
    # SIGTERM unwinds like Ctrl-C (``Stopped`` is a KeyboardInterrupt), so ``_child``
    # stops the exchange and the runner instead of leaving them serving with ports bound.
    with stop_signals():
        try:
            return _run_demo(settings)
        except Stopped as exc:
            print(f"\ndemo: stopped by signal {exc.signum}", flush=True)
            return 128 + exc.signum


def _run_demo(settings: DemoSettings) -> int:
    started = time.monotonic()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _environment(data_dir)
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "CSX_DATA_DIR", "MLFLOW_TRACKING_URI")})
    holdout_day = _training_days()[-1] + timedelta(days=1)
    holdout_seed = settings.seed + HOLDOUT_SEED_OFFSET
    # The held-out day needs no model to be simulated and replayed: a second process does
    # both while Dagster simulates the market days (those runs keep one core busy, not two).
    with _in_background(prepare_holdout, data_dir, holdout_day, holdout_seed, settings.symbols) as (
        holdout_done
    ):
        job, instance = _training_job(data_dir)  # after the spawn: importing Dagster takes a while
        keys = _market_days(job, instance, settings)
        prepared: PreparedHoldout = holdout_done()
    stage(f"held-out day {holdout_day}: simulated with another seed ({holdout_seed})")
    print(
        f"    simulated, replayed and labelled alongside the market days in "
        f"{prepared.seconds:.1f} s; the fake exchange loads it while the model trains",
        flush=True,
    )
    # The exchange starts up on the core training leaves idle; it replays nothing until the
    # runner's connections are all in. The runner then loads the champion and warms up on
    # the fast-forwarded first hour with both cores to itself and the exchange; the
    # held-out day is backtested once it is ready, inside the seconds the demo watches the
    # paced replay anyway (the window is never shorter than ``seconds``: a longer backtest
    # lengthens it).
    with _exchange_up(prepared.events, settings, env, data_dir) as (exchange_url, exchange_up):
        version = _train(job, instance, keys, data_dir)
        stage(
            f"live: fake exchange replays {holdout_day} (its first {_warm_up_s() // 60} min, "
            f"the warm-up, as fast as the runner reads, then {settings.speed:g}x), runner "
            "loads models:/csx-inplay@champion"
        )
        exchange_up()
        runner_started = time.monotonic()
        with _runner_up(exchange_url, settings, env, data_dir) as urls:

            def backtest() -> None:
                _backtest_holdout(data_dir, prepared, holdout_day, holdout_seed, version)

            summary = _show_live(urls, settings, data_dir, runner_started, backtest)
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s", flush=True)
    return 0 if summary["ranked"] else 1


def _show_live(
    urls: dict[str, str],
    settings: DemoSettings,
    data_dir: Path,
    runner_started: float,
    meanwhile: Callable[[], None],
) -> dict[str, Any]:
    """Where to look, readiness, the observed seconds (``meanwhile`` runs in them) and their
    summary; then, with ``--keep-running``, serve until a signal."""
    _print_where_to_look(urls, data_dir)
    summary = _observe(urls, settings.seconds, settings.ready_timeout_s, runner_started, meanwhile)
    _print_summary(summary)
    if settings.keep_running:
        print("\n--keep-running: Ctrl-C or SIGTERM stops the exchange and the runner.", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return summary


def _environment(data_dir: Path) -> dict[str, str]:
    from csx_pipelines.instance import platform_env
    from csx_pipelines.registry import default_tracking_uri

    env = platform_env(data_dir)
    env["MLFLOW_TRACKING_URI"] = os.environ.get("MLFLOW_TRACKING_URI") or (
        default_tracking_uri(data_dir)
    )
    return env


def _training_job(data_dir: Path) -> tuple[Any, Any]:
    """The training job of this data directory's definitions, and the Dagster instance."""
    import dagster as dg

    from csx_pipelines.definitions import build_definitions

    defs = build_definitions(str(data_dir), os.environ["MLFLOW_TRACKING_URI"])
    return defs.resolve_job_def("training_job"), dg.DagsterInstance.get()


def _market_days(job: Any, instance: Any, settings: DemoSettings) -> list[str]:
    """Each market day as a Dagster run of its partition; returns the partition keys.
    (Two market-day runs at a time, each in a process of its own, measured no faster on 2
    cores: 52 s against 48 s one after the other.)"""
    import dagster as dg

    from csx_pipelines.partitions import daily

    keys = daily.get_partition_keys()
    market_config = {
        **QUIET,
        "ops": {
            "market_events": {
                "config": {"sim_symbols": settings.symbols, "sim_seed": settings.seed}
            }
        },
    }
    for key in keys:
        stage(f"market_events[{key}]: simulate {settings.symbols} symbols (Dagster run)")
        t = time.monotonic()
        result = job.execute_in_process(
            partition_key=key,
            instance=instance,
            run_config=market_config,
            asset_selection=[dg.AssetKey("market_events")],
        )
        _require(result, f"market_events[{key}]")
        print(f"    done in {time.monotonic() - t:.1f} s", flush=True)
    return list(keys)


def _train(job: Any, instance: Any, keys: list[str], data_dir: Path) -> str:
    """One run builds everything downstream of the market days; returns the version it
    registered ("" when none)."""
    import dagster as dg

    from csx_pipelines.train import TRAINING_CONFIG_ASSETS

    stage(
        "feature_snapshots → labels → training_dataset → trained_model → calibrated_model"
        " → backtest_report → registered_model → champion (one Dagster run)"
    )
    t = time.monotonic()
    downstream = [
        k for k in job.asset_layer.executable_asset_keys if k != dg.AssetKey("market_events")
    ]
    training = {"config": {"lgbm_threads": _lgbm_threads()}}
    result = job.execute_in_process(
        partition_key=keys[-1],
        instance=instance,
        asset_selection=downstream,
        run_config={**QUIET, "ops": dict.fromkeys(TRAINING_CONFIG_ASSETS, training)},
    )
    verdict = "unknown (the champion asset reported no verdict)"
    version = ""
    _require(result, "training")
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string() if event.asset_key else "?"
        meta = event.materialization.metadata
        shown = {
            k: v.value
            for k, v in meta.items()
            if k in ("rows", "digest", "base_rate", "version", "promoted", "calib_ece")
        }
        print(f"    {key}: {shown}", flush=True)
        if "verdict" in meta:
            verdict = str(meta["verdict"].value)
            version = str(meta["version"].value)
    for check in result.get_asset_check_evaluations():
        print(f"    check {check.check_name}: {'PASS' if check.passed else 'FAIL'}", flush=True)
    print(f"    done in {time.monotonic() - t:.1f} s", flush=True)
    print_headline(data_dir / "training" / "report" / "report.json", "backtest, test folds")
    print(f"    promotion: {verdict}", flush=True)
    return version


def _lgbm_threads() -> int:
    """Both cores, when there are two: nothing else runs while the model trains (the
    held-out day is ready long before). Spinning OpenMP waits, LightGBM's default, are
    what makes the second thread pay: passive waits took back most of the gain."""
    return min(2, len(os.sched_getaffinity(0)))


def _backtest_holdout(
    data_dir: Path, prepared: PreparedHoldout, day: date, seed: int, version: str
) -> None:
    """The model this run registered, backtested on the held-out day (a seed training never
    saw) with the same evaluation as its test folds; the report lands in holdout/report and
    on the version's MLflow run (``holdout.*`` metrics and files)."""
    from csx_core.ml.evaluate import backtest_package
    from csx_core.ml.package import load_package
    from csx_core.ml.train import write_report

    stage(f"backtest on the held-out day {day} (seed {seed}, never seen in training)")
    t = time.monotonic()
    package = load_package(data_dir / "training" / "package")
    report = backtest_package(
        package,
        _holdout_labelled(package, prepared),
        data_label=f"held-out day {day}, simulated with seed {seed}",
    )
    out = data_dir / "holdout" / "report"
    write_report(report, None, out)
    print_headline(out / "report.json", f"backtest, held-out day {day}")
    if version:
        from csx_pipelines.promotion import flatten_report
        from csx_pipelines.registry import ModelRegistry

        registry = ModelRegistry(os.environ["MLFLOW_TRACKING_URI"])
        registry.log_evaluation(version, "holdout", flatten_report(report.to_dict()), out)
    print(f"    report {out / 'report.md'}; done in {time.monotonic() - t:.1f} s", flush=True)


def _require(result: Any, what: str) -> None:
    if not result.success:
        raise SystemExit(f"demo: the Dagster run for {what} failed; see `csx ui dagster`")


def _training_days() -> list[date]:
    from csx_pipelines.partitions import daily

    return [date.fromisoformat(k) for k in daily.get_partition_keys()]


@dataclass(frozen=True)
class PreparedHoldout:
    """The held-out day, simulated, replayed and labelled before any model exists."""

    events: Path
    features: Path
    labelled: Path
    """Arrow IPC file: the features labelled with ``labels`` and ``cost``."""
    labels: LabelConfig
    cost: CostModel
    seconds: float


def prepare_holdout(data_dir: Path, day: date, seed: int, symbols: int) -> PreparedHoldout:
    """Simulate the held-out day with its own seed into ``holdout/events`` and replay it
    into ``holdout/features`` (each skipped when already there), then label it with the
    label definition and cost model a default training run gives a package. Runs in a
    process of its own (``_in_background``) while Dagster trains."""
    import pyarrow.feather as feather

    from csx_core.ml.dataset import feature_files
    from csx_core.ml.evaluate import label_files_with
    from csx_core.replay import replay_store
    from csx_core.sim import SimConfig, write_to_store
    from csx_core.store import EventStore
    from csx_pipelines.assets.training import TrainingConfig

    began = time.monotonic()
    root = data_dir / "holdout" / "events"
    store = EventStore(root)
    if day not in store.dates("trade"):
        write_to_store(SimConfig(seed=seed, start=day, days=1, n_symbols=symbols), store)
    features = data_dir / "holdout" / "features"
    if not feature_files(features):
        replay_store(root, features)
    config = TrainingConfig().train_config(data_dir / "holdout")
    labelled = data_dir / "holdout" / "labelled.arrow"
    table = label_files_with(config.labels, config.cost, feature_files(features))
    feather.write_feather(table, labelled, compression="uncompressed")
    return PreparedHoldout(
        root, features, labelled, config.labels, config.cost, time.monotonic() - began
    )


def _holdout_labelled(package: PackagedScorer, prepared: PreparedHoldout) -> pa.Table:
    """The labels prepared alongside training when the package was trained with the same
    label definition and cost model (a default run), else the held-out day labelled now."""
    import pyarrow.feather as feather

    from csx_core.ml.dataset import feature_files
    from csx_core.ml.evaluate import label_files

    if package.label_config == prepared.labels and package.cost == prepared.cost:
        return feather.read_table(prepared.labelled, memory_map=True)
    print("    the package's labels differ from the default run's: labelling now", flush=True)
    files = feature_files(prepared.features)
    if not files:
        raise SystemExit(f"demo: {prepared.features} holds no replayed features")
    return label_files(package, files)


@contextmanager
def _in_background(fn: Any, *args: Any) -> Iterator[Any]:
    """``fn(*args)`` in a spawned process; yields a function that waits for its result
    (re-raising its error). Leaving the block stops the process if it is still running."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:  # its exit terminates
        pending = pool.apply_async(fn, args)
        yield pending.get


@contextmanager
def _exchange_up(
    store: Path, settings: DemoSettings, env: dict[str, str], data_dir: Path
) -> Iterator[tuple[str, Callable[[], None]]]:
    """The fake exchange serving ``store``, started; yields its base URL and a function
    that waits until it answers."""
    base = f"http://127.0.0.1:{settings.exchange_port}"
    argv = [
        _csx(),
        "exchange",
        "--store",
        str(store),
        "--speed",
        str(settings.speed),
        "--port",
        str(settings.exchange_port),
        "--fast-forward-s",
        str(_warm_up_s()),
        "--await-clients",
        str(_runner_connections(settings.symbols)),
        "--rebase-time",
        "--loop",
    ]
    with _child("exchange", argv, f"{base}/fapi/v1/exchangeInfo", env, data_dir, wait=False) as up:
        yield base, up


@contextmanager
def _runner_up(
    exchange: str, settings: DemoSettings, env: dict[str, str], data_dir: Path
) -> Iterator[dict[str, str]]:
    """``csx live`` on the exchange at ``exchange``, serving the champion; yields the URLs
    the demo reads once its /healthz answers."""
    live = f"http://127.0.0.1:{settings.port}"
    argv = [
        _csx(),
        "live",
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.port),
        "--ws-url",
        exchange.replace("http://", "ws://", 1),
        "--rest-url",
        exchange,
        "--model-source",
        "models:/csx-inplay@champion",
        "--profile",
        "DEV",
        "--sink-dir",
        str(data_dir / "live"),
    ]
    with _child("live", argv, f"{live}/healthz", env, data_dir):
        yield {"live": live, "exchange": exchange}


def _csx() -> str:
    return str(Path(sys.executable).parent / "csx")


@contextmanager
def _child(
    name: str,
    argv: list[str],
    health_url: str,
    env: dict[str, str],
    data_dir: Path,
    *,
    wait: bool = True,
) -> Iterator[Callable[[], None]]:
    """``argv`` as a process group of its own, logging to demo-logs/<name>.log; yields a
    function that waits until ``health_url`` answers (called before the yield unless
    ``wait`` is false). SIGTERM to the group on the way out (SIGKILL after the grace
    period), so nothing is left serving with its port bound."""
    logs = data_dir / "demo-logs"
    logs.mkdir(exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = spawn(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    def up() -> None:
        _wait_ok(health_url, proc, name, log)

    try:
        if wait:
            up()
        yield up
    finally:
        signal_group(proc)
        stop_group(proc, grace=30.0)


def _warm_up_s() -> int:
    """Event seconds the runner's engine (trained at the default cadence) needs to warm up."""
    from csx_core.features import EngineConfig

    return EngineConfig().warm_up_s


def _runner_connections(symbols: int) -> int:
    """The sockets a default runner opens on the simulated market of ``symbols`` symbols.
    The exchange waits for all of them before it fast-forwards: what it sends before a route
    listens is lost, and the runner would then warm up at the paced speed."""
    from csx_core.sim import SimConfig
    from csx_live.config import LiveSettings
    from csx_live.connectors import plan_shards, streams_for

    live = LiveSettings()
    streams = streams_for(SimConfig(n_symbols=symbols).symbol_names, live.channels)
    return len(plan_shards(streams, max_per_connection=live.max_streams_per_connection))


def _wait_ok(
    url: str, proc: subprocess.Popen[bytes], name: str, log: Path, timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo: {name} exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status < 500:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"demo: {name} not up within {timeout:.0f} s; see {log}")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


def _observe(
    urls: dict[str, str],
    seconds: float,
    ready_timeout_s: float,
    started: float,
    meanwhile: Callable[[], None],
) -> dict[str, Any]:
    """Wait for /readyz (``started``: when the runner was launched, what readiness is timed
    from), then observe at least ``seconds``, running ``meanwhile`` first."""
    stage(
        "waiting for /readyz (symbols warm up on an hour of event time, fast-forwarded), "
        f"then {seconds:.0f} s (the held-out backtest runs in them)"
    )
    ready_at: float | None = None
    last_reason = ""
    while time.monotonic() - started < ready_timeout_s:
        status, body = _get(urls["live"] + "/readyz")
        if status == 200:
            ready_at = time.monotonic() - started
            print(f"    /readyz 200 {ready_at:.1f} s after the runner started", flush=True)
            break
        reason = "; ".join(json.loads(body).get("reasons", [])) if body else ""
        if reason != last_reason:
            print(f"    not ready: {reason}", flush=True)
            last_reason = reason
        time.sleep(0.2)
    first = _metrics(urls["live"])
    observed = time.monotonic()
    meanwhile()
    time.sleep(max(0.0, seconds - (time.monotonic() - observed)))
    elapsed = time.monotonic() - observed
    last = _metrics(urls["live"])
    _, ranks_body = _get(urls["live"] + "/api/ranks")
    ranks = json.loads(ranks_body)
    _, parity_body = _get(urls["live"] + "/api/parity")
    parity = json.loads(parity_body)
    frames = last.get("csx_ws_frames_received_total", 0.0) - first.get(
        "csx_ws_frames_received_total", 0.0
    )
    return {
        "ranked": ranks.get("ranks", ranks) if isinstance(ranks, dict) else ranks,
        "frames_per_s": frames / max(elapsed, 1e-9),
        "alerts": last.get("csx_alerts_total", 0.0),
        "tick_p99_ms": _histogram_quantile(last, "csx_tick_duration_seconds", 0.99) * 1e3,
        "ready_after_s": ready_at,
        "model": _model_info(urls["live"]),
        "warm": f"{ranks.get('warm_symbols', 0)} of {ranks.get('scored_universe', 0)}",
        "promise": ranks.get("promise"),
        "realised": ranks.get("realised"),
        "parity_ticks": parity.get("ticks", 0),
        "parity_breaks": {k: v for k, v in parity.get("breaks", {}).items() if v},
    }


def _metrics(base: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    _, body = _get(base + "/metrics")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                key = f"{sample.name}|{sample.labels.get('le')}"
                out[key] = out.get(key, 0.0) + sample.value
            else:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def _histogram_quantile(metrics: dict[str, float], name: str, q: float) -> float:
    buckets = sorted(
        (float(k.split("|")[1]), v) for k, v in metrics.items() if k.startswith(f"{name}_bucket|")
    )
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    total = buckets[-1][1]
    return next(le for le, count in buckets if count >= q * total)


def _model_info(base: str) -> str:
    _, body = _get(base + "/metrics")
    for line in body.decode().splitlines():
        if line.startswith("csx_model_info{"):
            return line.split("{", 1)[1].rsplit("}", 1)[0]
    return "none"


def _print_where_to_look(urls: dict[str, str], data_dir: Path) -> None:
    print(
        f"""
    dashboard        {urls["live"]}/
    ranks (JSON)     {urls["live"]}/api/ranks
    metrics          {urls["live"]}/metrics
    readiness        {urls["live"]}/readyz
    Dagster UI       ./csx.sh csx ui dagster --data-dir {data_dir}   (http://127.0.0.1:3000)
    MLflow UI        ./csx.sh csx ui mlflow --data-dir {data_dir}    (http://127.0.0.1:5000)
    logs             {data_dir / "demo-logs"}""",
        flush=True,
    )


def _bps(value: float | None) -> str:
    return "unknown" if value is None else f"{value:+.1f}"


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1%}"


def _print_summary(summary: dict[str, Any]) -> None:
    stage("summary")
    ranked = summary["ranked"]
    print(f"    model            {summary['model']}")
    ready = summary["ready_after_s"]
    shown = "never" if ready is None else f"{ready:.1f} s after the runner started"
    print(f"    ready            {shown}")
    print(f"    frames/s         {summary['frames_per_s']:.0f}")
    print(f"    tick p99         {summary['tick_p99_ms']:.1f} ms")
    print(f"    alerts           {summary['alerts']:.0f}")
    print(f"    warm symbols     {summary['warm']}")
    breaks = summary["parity_breaks"]
    print(
        f"    parity           {summary['parity_ticks']} ticks digested; "
        + (
            "breaks: "
            + ", ".join(f"{k} {v}" for k, v in breaks.items())
            + " (live features left offline replay's: the runner fell behind the feed)"
            if breaks
            else "no breaks (offline replay of the events received gives the same digest)"
        )
    )
    promise, realised = summary["promise"] or {}, summary["realised"] or {}
    print(
        f"    promise          {_bps(promise.get('net_bps'))} bps/trade, hit rate "
        f"{_share(promise.get('hit_rate'))} ({promise.get('source', 'no backtest in the package')})"
    )
    print(
        f"    realised         {realised.get('resolved', 0)} alerts resolved: "
        f"{_bps(realised.get('net_bps'))} bps/alert, hit rate {_share(realised.get('hit_rate'))}"
    )
    print("    top ranks:")
    for row in list(ranked)[:10]:
        print(f"      {json.dumps(row)[:150]}")
    sys.stdout.flush()
