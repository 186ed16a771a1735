# AI System Lab — a classroom server image. Build: docker build -t ai-system-lab .
# Run: docker run -p 8501:8501 ai-system-lab   (then open http://localhost:8501)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BROWSER_PATH=/usr/bin/chromium \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1 \
    MALLOC_ARENA_MAX=2
# One BLAS thread per call: a classroom server runs many sessions at once, and multi-threaded BLAS
# collapses when the cores are shared (measured: ResNet-18 conv time 43 ms -> 384 ms under load).
# Two malloc arenas: every rerun runs on a new thread, and per-thread arenas keep what a class freed
# (ui/janitor.py; RSS after a class left / before: 1.13 without, 1.02 with).

# chromium: server-side PNG/SVG export through kaleido; the font: Chinese text in exported figures;
# libjemalloc2: the server's allocator (tools/serve.py: memory a class frees goes back to the system).
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei libjemalloc2 \
    && rm -rf /var/lib/apt/lists/*

# /data/uploads: the upload store (AISL_UPLOAD_DIR) when replicas share a volume (deploy/compose.yaml).
RUN useradd --create-home --uid 1000 lab \
    && mkdir -p /data/uploads && chown lab:lab /data/uploads && chmod 700 /data/uploads
WORKDIR /app

# The CPU build of torch first: the default Linux wheel is the multi-GB CUDA build.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -r requirements.txt

COPY --chown=lab:lab . .
RUN python -m ui.netron_assets && chown -R lab:lab /app/static

USER 1000
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://localhost:8501/_stcore/health', timeout=4)"]

CMD ["python", "-m", "tools.serve", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
