#!/usr/bin/env bash
# ApplicationStart: install the systemd units for gunicorn, the Celery worker and the timer removing
# expired unverified accounts (with the service it runs), then start them.
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"

for unit in "${UNITS[@]}" "${TIMED_UNITS[@]}"; do
  sed -e "s|@APP_DIR@|$APP_DIR|g" -e "s|@VENV_DIR@|$VENV_DIR|g" -e "s|@ENV_FILE@|$ENV_FILE|g" \
      -e "s|@LOG_DIR@|$LOG_DIR|g" -e "s|@SERVICE_USER@|$SERVICE_USER|g" -e "s|@APP_PORT@|$APP_PORT|g" \
      "$APP_DIR/scripts/systemd/$unit" > "$UNIT_DIR/$unit.new"
  chmod 0644 "$UNIT_DIR/$unit.new"
  mv "$UNIT_DIR/$unit.new" "$UNIT_DIR/$unit"
done
systemctl daemon-reload
for unit in "${UNITS[@]}"; do
  log "starting $unit"
  systemctl enable "$unit"
  systemctl restart "$unit"
done
