# Optline: one image for the web process (optline serve) and the workers (optline worker).
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPTLINE_ENV=production \
    OPTLINE_INSTANCE_PATH=/var/lib/optline

WORKDIR /app
RUN useradd --system --home /var/lib/optline --create-home optline

COPY requirements.lock ./
RUN pip install --no-cache-dir uv \
 && uv pip install --system --no-cache -r requirements.lock

COPY pyproject.toml README.md ./
COPY backend ./backend
COPY templates ./templates
COPY static ./static
RUN uv pip install --system --no-cache --no-deps .

USER optline
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["optline", "serve", "--bind", "0.0.0.0:8000"]
