# syntax=docker/dockerfile:1
# One image for every CryptoScreener-X process: `csx live` (default), the Dagster webserver,
# daemon and code server, and `mlflow server`. Writes go only to the declared volumes
# (/data, /tmp), so it runs with a read-only root filesystem. numba takes no cache from a
# directory it cannot write, so a process compiles the batch tick path's kernels on first
# use (~12 s; the live runner in a thread at start-up) into $HOME/.cache/numba (~1 MB).

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Dependencies first, from the lock file alone, so code changes reuse this layer.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY csx_core ./csx_core
COPY csx_live ./csx_live
COPY csx_pipelines ./csx_pipelines
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --gid 10001 csx \
    && useradd --uid 10001 --gid csx --no-create-home --shell /usr/sbin/nologin csx \
    && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=build /opt/venv /opt/venv
COPY workspace.yaml /app/workspace.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    CSX_DATA_DIR=/data \
    DAGSTER_HOME=/data/dagster_home \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
VOLUME ["/data", "/tmp"]
WORKDIR /app
USER 10001:10001
EXPOSE 8080 3000 5000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["csx"]
CMD ["live", "--host", "0.0.0.0", "--port", "8080"]
