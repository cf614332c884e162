# One image for the live runner, the Dagster services and the MLflow server.
FROM python:3.11-slim AS build
WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock README.md ./
COPY csx_core csx_core
COPY csx_live csx_live
COPY csx_pipelines csx_pipelines
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 csx
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH
USER csx
WORKDIR /home/csx
ENTRYPOINT ["csx"]
CMD ["--help"]
