#!/usr/bin/env bash
# BeforeInstall: the service user and the directories the app writes to (the code itself is
# owned by root and only readable by the service).
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"

if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
  log "creating the system user $SERVICE_USER"
  useradd --system --home-dir "$VAR_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi
install -d -m 0755 "$CLOUDSITE_ROOT" "$APP_DIR"
install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC_DIR"
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$LOG_DIR" "$VAR_DIR"
log "directories ready under $CLOUDSITE_ROOT, $ETC_DIR, $LOG_DIR, $VAR_DIR"
