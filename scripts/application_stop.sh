#!/usr/bin/env bash
# ApplicationStop: stop gunicorn and the Celery worker gracefully. SIGTERM makes gunicorn finish
# the requests in flight (graceful timeout 30 s) and the worker finish its tasks (a warm shutdown);
# the units give them TimeoutStopSec before anything is killed. Nothing to stop on a first deployment.
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"

for unit in "${UNITS[@]}"; do
  if unit_exists "$unit" && systemctl is-active --quiet "$unit"; then
    log "stopping $unit"
    systemctl stop "$unit"
  else
    log "$unit is not running"
  fi
done
