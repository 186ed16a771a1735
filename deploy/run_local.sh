#!/usr/bin/env bash
# N replicas of the app and nginx in front of them, all on loopback, in the foreground.
#   deploy/run_local.sh [N] [PORT]      N replicas (default 2), nginx on 127.0.0.1:PORT (default 8080)
# Replicas listen on 127.0.0.1:$AISL_BASE_PORT+1 .. +N (default 8501..), share one upload folder
# (AISL_UPLOAD_DIR, default <run dir>/uploads: share links work whichever replica answers) and one
# cookie secret (Streamlit's XSRF token then survives a move to another replica). Everything this
# script starts is stopped when it gets INT/TERM or exits; pids and logs stay in the run dir
# (AISL_RUN_DIR, default a new temporary folder): replica-<k>.pid/.log, nginx.pid, access.log, error.log.
# Needs Debian's nginx package (apt-get install nginx) and the .venv of `make run`.
set -euo pipefail

N="${1:-2}"
PORT="${2:-8080}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
BASE="${AISL_BASE_PORT:-8500}"
RUN="${AISL_RUN_DIR:-$(mktemp -d -t aisl-run.XXXXXX)}"
UPLOADS="${AISL_UPLOAD_DIR:-$RUN/uploads}"
SECRET="${AISL_COOKIE_SECRET:-$("$PY" -c 'import secrets; print(secrets.token_hex(32))')}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"

mkdir -p "$RUN/tmp" "$UPLOADS"
PIDS=()

stop_all() {
  trap - INT TERM EXIT
  if [[ -f "$RUN/nginx.pid" ]]; then kill -TERM "$(cat "$RUN/nginx.pid")" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

for k in $(seq "$N"); do
  port=$((BASE + k))
  AISL_UPLOAD_DIR="$UPLOADS" STREAMLIT_SERVER_COOKIE_SECRET="$SECRET" MALLOC_ARENA_MAX=2 \
    "$PY" "$ROOT/tools/serve.py" --server.address 127.0.0.1 --server.port "$port" \
    --server.headless true --browser.gatherUsageStats false --server.fileWatcherType none \
    >"$RUN/replica-$k.log" 2>&1 &
  PIDS+=($!)
  echo $! >"$RUN/replica-$k.pid"
done

servers=""
for k in $(seq "$N"); do
  servers+="        server 127.0.0.1:$((BASE + k)) max_fails=1 fail_timeout=10s;"$'\n'
done
user_line=""
if [[ $EUID -eq 0 ]]; then user_line="user $(id -un) $(id -gn);"; fi
cat >"$RUN/nginx.conf" <<EOF
# written by deploy/run_local.sh
$user_line
daemon off;
worker_processes 1;
pid $RUN/nginx.pid;
error_log $RUN/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $RUN/tmp/body;
    proxy_temp_path $RUN/tmp/proxy;
    fastcgi_temp_path $RUN/tmp/fastcgi;
    uwsgi_temp_path $RUN/tmp/uwsgi;
    scgi_temp_path $RUN/tmp/scgi;
    include $HERE/nginx/aisl-http.conf;
    proxy_cache_path $RUN/tmp/static levels=1:2 keys_zone=aisl_static:10m max_size=256m inactive=30d use_temp_path=off;
    access_log $RUN/access.log aisl;
    upstream aisl_replicas {
        hash \$aisl_route consistent;
$servers        keepalive 16;
    }
    server {
        listen 127.0.0.1:$PORT;
        include $HERE/nginx/aisl-locations.conf;
    }
}
EOF
"$NGINX" -p "$RUN" -c "$RUN/nginx.conf" -e "$RUN/error.log" &
PIDS+=($!)

healthy() { "$PY" -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null; }
for k in $(seq "$N"); do
  for _ in $(seq 300); do
    healthy "http://127.0.0.1:$((BASE + k))/_stcore/health" && break
    sleep 0.3
  done
done
for _ in $(seq 50); do healthy "http://127.0.0.1:$PORT/_stcore/health" && break; sleep 0.2; done
echo "ready: http://127.0.0.1:$PORT ($N replicas, run dir $RUN)"

# Keep running while anything is up; a replica that dies (or is killed) leaves the others serving.
while :; do
  wait || true
  alive=0
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [[ $alive == 0 ]] && break
  sleep 1
done
