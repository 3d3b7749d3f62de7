#!/usr/bin/env bash
# Shared by the CodeDeploy hooks: paths, the stack, logging. Every path can be moved by the
# environment so the hooks run in a scratch directory in tests.
set -euo pipefail

CLOUDSITE_ROOT="${CLOUDSITE_ROOT:-/opt/cloudsite}"
APP_DIR="${APP_DIR:-$CLOUDSITE_ROOT/app}"
VENV_DIR="${VENV_DIR:-$CLOUDSITE_ROOT/venv}"
ETC_DIR="${ETC_DIR:-/etc/cloudsite}"
ENV_FILE="${ENV_FILE:-$ETC_DIR/env}"
LOG_DIR="${LOG_DIR:-/var/log/cloudsite}"
VAR_DIR="${VAR_DIR:-/var/lib/cloudsite}"
UNIT_DIR="${UNIT_DIR:-/etc/systemd/system}"
SERVICE_USER="${SERVICE_USER:-cloudsite}"
# The log files' group: the CloudWatch agent's user (run_as_user in deploy/cloudwatch-agent.json)
# is its only member, so it may read the logs and nothing else of the service's.
LOG_GROUP="${LOG_GROUP:-cloudsite-logs}"
AGENT_USER="${AGENT_USER:-cwagent}"
# The app's port: the environment, else CLOUDSITE_APP_PORT of the rendered environment file (the
# network layer's [network] app_port, which the target group and security groups use; AfterInstall
# renders it before ApplicationStart and ValidateService read it), else 8000.
env_file_port() {
  local port=""
  if [[ -r "$ENV_FILE" ]]; then
    port="$(sed -n 's/^CLOUDSITE_APP_PORT="\{0,1\}\([0-9]\{1,5\}\)"\{0,1\}$/\1/p' "$ENV_FILE" | tail -n 1)"
  fi
  printf '%s\n' "${port:-8000}"
}
APP_PORT="${APP_PORT:-$(env_file_port)}"
# The interpreter the venv is built with: the environment, else the one the image bake recorded
# (recorded_python, called by AfterInstall).
PYTHON="${PYTHON:-}"
# shellcheck disable=SC2034  # used by the hooks that source this file
UNITS=(cloudsite-app.service cloudsite-worker.service cloudsite-remove-unverified.timer)
# Installed with UNITS, never started by the hooks: their timer (in UNITS) runs them.
# shellcheck disable=SC2034  # used by application_start.sh
TIMED_UNITS=(cloudsite-remove-unverified.service)

log() {
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${LIFECYCLE_EVENT:-hook}" "$*"
}

die() {
  log "ERROR: $*" >&2
  exit 1
}

# The stack: CodeDeploy's deployment group is cloudsite-<stack>-app; /etc/cloudsite/stack (written
# by the instance's user data) otherwise.
stack_name() {
  local group="${DEPLOYMENT_GROUP_NAME:-}"
  if [[ "$group" =~ ^cloudsite-([a-z][a-z0-9-]*)-app$ ]]; then
    printf '%s\n' "${BASH_REMATCH[1]}"
  elif [[ -r "$ETC_DIR/stack" ]]; then
    tr -d '[:space:]' < "$ETC_DIR/stack"
  else
    die "cannot tell the stack: no DEPLOYMENT_GROUP_NAME and no $ETC_DIR/stack"
  fi
}

# The region: the environment, else the instance metadata (IMDSv2), at the SDKs' and CLI's
# AWS_EC2_METADATA_SERVICE_ENDPOINT when set (the instance test serves it on loopback).
region_name() {
  if [[ -n "${AWS_REGION:-}" ]]; then
    printf '%s\n' "$AWS_REGION"
    return
  fi
  local endpoint="${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}" token
  endpoint="${endpoint%/}"
  token="$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$endpoint/latest/api/token")" \
    || die "no AWS_REGION and the instance metadata service did not answer"
  curl -sf -H "X-aws-ec2-metadata-token: $token" "$endpoint/latest/meta-data/placement/region"
}

# The interpreter: $PYTHON when set, else the path the image bake wrote to $ETC_DIR/python.
recorded_python() {
  if [[ -n "$PYTHON" ]]; then
    printf '%s\n' "$PYTHON"
    return
  fi
  local recorded=""
  if [[ -r "$ETC_DIR/python" ]]; then
    recorded="$(head -n 1 "$ETC_DIR/python" | tr -d '[:space:]')"
  fi
  [[ -n "$recorded" ]] || die "no recorded interpreter in $ETC_DIR/python: rebake the image (provision_image --rebake)"
  printf '%s\n' "$recorded"
}

# The rendered environment file, exported into this shell as systemd's EnvironmentFile= reads it,
# evaluating nothing: never `source` it, where a "$(...)" or a backtick in a value would run as root.
# Lines: KEY="value" (inside the quotes \" \\ \` \$ stand for the character, any other backslash
# stays, "$" and "`" are plain characters: systemd's rules, which deploy/render_env.py writes to),
# KEY=value without quotes, backslashes or spaces, blank lines and "#" / ";" comments. Any other
# line fails the hook, naming the line's number, never its content (it may hold a secret).
export_env_file() {
  local file="$1" line key value number=0
  local quoted='^([A-Za-z_][A-Za-z0-9_]*)="(([^"\\]|\\.)*)"[[:space:]]*$'
  local bare="^([A-Za-z_][A-Za-z0-9_]*)=([^\"'\\\\[:space:]]*)[[:space:]]*\$"
  [[ -r "$file" ]] || die "cannot read the environment file $file"
  while IFS= read -r line || [[ -n "$line" ]]; do
    number=$((number + 1))
    line="${line#"${line%%[![:space:]]*}"}"
    if [[ -z "$line" || "$line" == [\#\;]* ]]; then
      continue
    elif [[ "$line" =~ $quoted ]]; then
      key="${BASH_REMATCH[1]}"
      unescape_double_quoted "${BASH_REMATCH[2]}"
      value="$REPLY"
    elif [[ "$line" =~ $bare ]]; then
      key="${BASH_REMATCH[1]}"
      value="${BASH_REMATCH[2]}"
    else
      die "$file, line $number: not KEY=\"value\" as deploy/render_env.py writes it (not read)"
    fi
    export "$key=$value"
  done < "$file"
}

# The inside of a double-quoted EnvironmentFile= value, unescaped as systemd does, into REPLY.
unescape_double_quoted() {
  local text="$1" out="" char i
  for ((i = 0; i < ${#text}; i++)); do
    char="${text:i:1}"
    if [[ "$char" == "\\" ]]; then
      i=$((i + 1))
      char="${text:i:1}"
      case "$char" in
        '"' | "\\" | '`' | '$') ;;
        *) out+="\\" ;;
      esac
    fi
    out+="$char"
  done
  REPLY="$out"
}

unit_exists() {
  [[ -f "$UNIT_DIR/$1" ]]
}

# The log group, with the CloudWatch agent's user in it (the image bake does the same; this covers
# an instance baked before). The agent reads its user's groups from /etc/group when it drops root,
# so a running agent is restarted to pick a new membership up.
ensure_log_reader() {
  if ! getent group "$LOG_GROUP" >/dev/null; then
    log "creating the log group $LOG_GROUP"
    groupadd --system "$LOG_GROUP"
  fi
  if ! id -u "$AGENT_USER" >/dev/null 2>&1; then
    log "WARNING: no user $AGENT_USER (the CloudWatch agent's): the logs are not shipped"
    return
  fi
  local groups
  groups=" $(id -nG "$AGENT_USER") "
  if [[ "$groups" != *" $LOG_GROUP "* ]]; then
    log "adding $AGENT_USER to $LOG_GROUP"
    usermod -a -G "$LOG_GROUP" "$AGENT_USER"
    systemctl try-restart amazon-cloudwatch-agent.service \
      || log "WARNING: could not restart the CloudWatch agent; it reads $LOG_GROUP when it next starts"
  fi
}
