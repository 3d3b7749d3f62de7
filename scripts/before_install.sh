#!/usr/bin/env bash
# BeforeInstall: the service user and the directories the app writes to (the code itself is
# owned by root and only readable by the service). The log directory is the service's, readable by
# the log group (setgid, so every new file gets that group; the units' UMask=0027 makes them 0640),
# whose one member is the CloudWatch agent's user: it ships the logs and reads nothing else.
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"

if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
  log "creating the system user $SERVICE_USER"
  useradd --system --home-dir "$VAR_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi
install -d -m 0755 "$CLOUDSITE_ROOT" "$APP_DIR"
install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC_DIR"
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$VAR_DIR"
ensure_log_reader
install -d -m 2750 -o "$SERVICE_USER" -g "$LOG_GROUP" "$LOG_DIR"
# files from before this layout (or made by a root process): the service's, the log group's,
# nothing for others
find "$LOG_DIR" -maxdepth 1 -type f -exec chown "$SERVICE_USER:$LOG_GROUP" {} + -exec chmod 0640 {} +
log "directories ready under $CLOUDSITE_ROOT, $ETC_DIR, $LOG_DIR, $VAR_DIR"
