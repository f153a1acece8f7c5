# Higgs: web (gunicorn serving ASGI through the uvicorn worker) by default;
# run the worker from the same image with: python manage.py run_worker
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=0 \
    DATA_DIR=/data \
    PORT=8000

RUN groupadd --system higgs && useradd --system --gid higgs --create-home higgs

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=higgs:higgs . .
# A throwaway key: collectstatic needs settings to load, nothing here is signed.
RUN SECRET_KEY=build-only-collectstatic HIGGS_COLLECTING_STATIC=1 python manage.py collectstatic --noinput \
    && mkdir -p /data && chown higgs:higgs /data

USER higgs
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "higgs_project.healthcheck"]
# One async web process per core (WEB_CONCURRENCY overrides): more only add switching between them.
CMD ["sh", "-c", "exec gunicorn higgs_project.asgi:application -k uvicorn_worker.UvicornWorker --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-$(nproc)} --access-logfile -"]
