#!/usr/bin/env bash
# AfterInstall: the virtual environment from the locked requirements (rebuilt only when they
# changed, next to the old one, then swapped in), the environment file rendered from SSM and
# Secrets Manager (readable only by the service user), migrations once per deployment under a
# database lock (safe when every instance runs this hook at once), collectstatic.
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"

cd "$APP_DIR"
wanted="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ -x "$VENV_DIR/bin/python" && "$(cat "$VENV_DIR/.requirements.sha256" 2>/dev/null)" == "$wanted" ]]; then
  log "virtual environment up to date (requirements $wanted)"
else
  log "building the virtual environment for requirements $wanted"
  rm -rf "$VENV_DIR.new"
  "$PYTHON" -m venv "$VENV_DIR.new"
  "$VENV_DIR.new/bin/pip" install --quiet --no-input --disable-pip-version-check -r requirements.txt
  printf '%s\n' "$wanted" > "$VENV_DIR.new/.requirements.sha256"
  rm -rf "$VENV_DIR.old"
  if [[ -d "$VENV_DIR" ]]; then mv "$VENV_DIR" "$VENV_DIR.old"; fi
  mv "$VENV_DIR.new" "$VENV_DIR"
  rm -rf "$VENV_DIR.old"
fi

stack="$(stack_name)"
region="$(region_name)"
log "rendering $ENV_FILE for stack $stack in $region"
"$VENV_DIR/bin/python" -m deploy.render_env --stack "$stack" --region "$region" \
  --output "$ENV_FILE" --owner "$SERVICE_USER"

# The management commands see exactly what the services will see.
run_manage() {
  (
    set -a
    # shellcheck disable=SC1090
    source "$ENV_FILE"
    set +a
    "$VENV_DIR/bin/python" manage.py "$@"
  )
}
log "migrating (once per deployment, under a database lock)"
run_manage migrate_locked --deployment "${DEPLOYMENT_ID:-manual}" --noinput
log "collecting static files"
run_manage collectstatic --noinput --verbosity 0
