# syntax=docker/dockerfile:1
# python -m predictor: the XGBoost booster from the MLflow registry behind KServe's ModelServer.
# Build from the repository root: docker build -f docker/predictor.Dockerfile -t credit-scoring-predictor .
# Installs only the "predictor" extra, pinned by requirements/constraints.txt.
# Same base in both stages: the venv's interpreter path must exist at run time.
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY credit_scoring/ credit_scoring/
COPY serving/ serving/
COPY predictor/ predictor/
# A regular (non-editable) install: the runtime stage gets the venv and nothing of /src.
RUN /opt/venv/bin/pip install --constraint requirements/constraints.txt ".[predictor]"

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="credit-scoring-predictor" \
      org.opencontainers.image.source="https://github.com/credit-scoring/credit-scoring-platform" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed non-root UID/GID (the chart's podSecurity.runAsUser); no shell login, no home to write.
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    CREDIT_HOME=/var/lib/credit-scoring
WORKDIR /app
USER 10001:10001
