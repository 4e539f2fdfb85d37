# syntax=docker/dockerfile:1
# Portfolio batch scoring: credit-scoring batch-score (local engine) and the Spark engine, as the
# chart's Job/CronJob and as the Spark Operator's driver and executors (docker/spark-entrypoint.sh).
# Build from the repository root: docker build -f docker/batch.Dockerfile -t credit-scoring-batch .
# Installs only the "batch" extra, pinned by requirements/constraints.txt (PySpark brings Spark's
# jars and spark-submit); the runtime stage adds the Java 17 runtime Spark needs. No kserve.
# Same base in both stages: the venv's interpreter path must exist at run time.
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY credit_scoring/ credit_scoring/
COPY feature_store/ feature_store/
COPY predictor/ predictor/
COPY serving/ serving/
COPY transformer/ transformer/
COPY training/ training/
COPY batch/ batch/
COPY cli/ cli/
# The command line imports every command's settings (promotion's, the inference log's).
COPY promotion/ promotion/
COPY inference_log/ inference_log/
COPY monitoring/ monitoring/
# A regular (non-editable) install: the runtime stage gets the venv and nothing of /src.
RUN /opt/venv/bin/pip install --constraint requirements/constraints.txt ".[batch]"

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="credit-scoring-batch" \
      org.opencontainers.image.source="https://github.com/credit-scoring/credit-scoring-platform" \
      org.opencontainers.image.licenses="Apache-2.0"
# Spark runs on Java 17 (Debian's headless runtime).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless=17.0.* \
    && rm -rf /var/lib/apt/lists/*
# A fixed non-root UID/GID (the chart's podSecurity.runAsUser); no shell login, no home to write.
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --chown=root:root feature_repo/ /app/feature_repo/
COPY --chown=root:root --chmod=0755 docker/spark-entrypoint.sh /opt/spark-entrypoint.sh
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    CREDIT_HOME=/var/lib/credit-scoring \
    SPARK_HOME=/opt/venv/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/opt/venv/bin/python
WORKDIR /app
ENTRYPOINT ["/opt/spark-entrypoint.sh"]
USER 10001:10001
