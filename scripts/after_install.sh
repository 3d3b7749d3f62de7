#!/usr/bin/env bash
# AfterInstall: the virtual environment from the locked requirements (requirements-build.lock then
# requirements.lock, every package checked against its hash) with the interpreter the
# image recorded (rebuilt only when either changed, in a directory of its own, then swapped in by a symlink), the
# environment file rendered from SSM and Secrets Manager (readable only by the service user),
# migrations once per deployment under a database lock (safe when every instance runs this hook at
# once), collectstatic.
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"

cd "$APP_DIR"
# The interpreter the image recorded: new enough for the lock (3.11: Pillow 13), with venv and ensurepip.
PYTHON="$(recorded_python)"
python_version="$("$PYTHON" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')" \
  || die "the interpreter $PYTHON does not run: rebake the image (provision_image --rebake)"
IFS=. read -r major minor _ <<< "$python_version"
if ! [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || ((major < 3 || (major == 3 && minor < 11))); then
  die "$PYTHON is Python $python_version; the app needs 3.11 or newer: rebake the image (provision_image --rebake)"
fi
for module in venv ensurepip; do
  "$PYTHON" -c "import $module" 2>/dev/null \
    || die "$PYTHON (Python $python_version) has no $module module: rebake the image (provision_image --rebake)"
done

# The venv's stamp: the locks and the interpreter (a new one, or a new version, rebuilds).
LOCKS=(requirements-build.lock requirements.lock)
for lock in "${LOCKS[@]}"; do
  [[ -r "$lock" ]] || die "the bundle has no $lock: deploy a bundle built by manage.py deploy"
done
wanted="requirements $(cat "${LOCKS[@]}" | sha256sum | cut -d' ' -f1) python $PYTHON $python_version"
if [[ -x "$VENV_DIR/bin/python" && "$(cat "$VENV_DIR/.stamp" 2>/dev/null)" == "$wanted" ]]; then
  log "virtual environment up to date ($wanted)"
else
  log "building the virtual environment ($wanted)"
  # Built where it stays: a venv's console scripts (gunicorn, celery) name its interpreter by
  # absolute path in their #! line, so a venv renamed after pip ran cannot start them. Each build
  # gets its own directory; $VENV_DIR is a symlink swapped onto it atomically.
  build="$VENV_DIR.versions/$(printf '%s' "$wanted" | sha256sum | cut -c1-16)"
  rm -rf "$build"
  mkdir -p "$VENV_DIR.versions"
  "$PYTHON" -m venv "$build" \
    || die "building the virtual environment failed: $PYTHON -m venv $build"
  # Hash-checking mode: every package, transitive ones included, is pinned and must match one of
  # its hashes. The build requirements first (wheels only), then the rest built with them:
  # mysqlclient builds from its sdist, and pip's build isolation would fetch an unchecked setuptools.
  pip_locked=("$build/bin/pip" install --quiet --no-input --disable-pip-version-check --require-hashes)
  "${pip_locked[@]}" --only-binary :all: -r requirements-build.lock \
    || die "building the virtual environment failed: pip install --require-hashes -r requirements-build.lock (its output is above)"
  "${pip_locked[@]}" --no-build-isolation -r requirements.lock \
    || die "building the virtual environment failed: pip install --require-hashes -r requirements.lock (its output is above)"
  printf '%s\n' "$wanted" > "$build/.stamp"
  # a directory from before this layout (the services are stopped: ApplicationStop)
  if [[ -d "$VENV_DIR" && ! -L "$VENV_DIR" ]]; then rm -rf "$VENV_DIR"; fi
  ln -sfn "$build" "$VENV_DIR.link"
  mv -T "$VENV_DIR.link" "$VENV_DIR"
  for old in "$VENV_DIR.versions"/*; do
    if [[ "$old" != "$build" ]]; then rm -rf "$old"; fi
  done
fi

stack="$(stack_name)"
region="$(region_name)"
log "rendering $ENV_FILE for stack $stack in $region"
"$VENV_DIR/bin/python" -m deploy.render_env --stack "$stack" --region "$region" \
  --output "$ENV_FILE" --owner "$SERVICE_USER"

# The management commands see exactly what the services will see: the file read as systemd reads
# it (export_env_file, common.sh), never sourced.
run_manage() {
  (
    export_env_file "$ENV_FILE"
    # Their logs go to this hook's output (the deployment log), not to the service's log file: a
    # root process would create that file as root, and the service user could not open it.
    LOG_FILE="" "$VENV_DIR/bin/python" manage.py "$@"
  )
}
log "migrating (once per deployment, under a database lock)"
run_manage migrate_locked --deployment "${DEPLOYMENT_ID:-manual}" --noinput
log "collecting static files"
run_manage collectstatic --noinput --verbosity 0
