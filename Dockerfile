# The pipeline's image: Airflow 3.3 with this project installed from the committed lock.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 AIRFLOW_HOME=/opt/airflow
# The daily report: Chromium prints its PDF, Noto CJK draws the Chinese (charts, page, PDF).
RUN apt-get update && apt-get install -y --no-install-recommends chromium fonts-noto-cjk && \
    rm -rf /var/lib/apt/lists/*
WORKDIR /opt/govshare
COPY pyproject.toml constraints.txt requirements-runtime.lock README.md ./
COPY govshare govshare
COPY reports reports
COPY pipeline pipeline
COPY indicators indicators
COPY common common
COPY connectors connectors
COPY transforms transforms
COPY expectations expectations
COPY warehouse warehouse
COPY dags dags
# The simulator stays out of the image: nothing the DAGs run imports it.
# Every dependency checked against its sha256 (pip ignores hashes in constraints files,
# pypa/pip#8792); the project itself has no hash and brings no dependency of its own.
RUN pip install --require-hashes -r requirements-runtime.lock && pip install --no-deps . && \
    useradd --create-home airflow && \
    mkdir -p $AIRFLOW_HOME && chown airflow $AIRFLOW_HOME
USER airflow
