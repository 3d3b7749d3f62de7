#!/usr/bin/env bash
# ValidateService: poll /healthz until it answers 200, or fail the deployment (CodeDeploy then
# rolls back). A 503 means the app is up but its database is not: keep polling until the limit.
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"

url="http://127.0.0.1:$APP_PORT/healthz"
attempts="${VALIDATE_ATTEMPTS:-60}"
delay="${VALIDATE_DELAY:-2}"
code=000
for ((attempt = 1; attempt <= attempts; attempt++)); do
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true)"
  if [[ "$code" == 200 ]]; then
    log "healthy: $url answered 200 (attempt $attempt)"
    exit 0
  fi
  log "not healthy yet: $url answered $code (attempt $attempt of $attempts)"
  sleep "$delay"
done
die "$url answered $code, not 200, after $attempts attempts"
