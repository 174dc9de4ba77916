#!/bin/sh
# Renders alertmanager.yml (a template) from the ALERT_* environment and starts
# Alertmanager with it. `start.sh --render DIR` only renders, into DIR (the ops checks
# validate the result with amtool).
set -eu

here="$(dirname "$0")"
out=/tmp/alertmanager
render_only=false
if [ "${1:-}" = "--render" ]; then
  out="$2"
  render_only=true
fi

receiver="${ALERTMANAGER_RECEIVER:-none}"
case "$receiver" in
  none | email | webhook) ;;
  *) echo "alertmanager: ALERTMANAGER_RECEIVER is '$receiver'; use email, webhook or none" >&2; exit 2 ;;
esac
need() {
  eval "value=\${$1:-}"
  if [ -z "$value" ]; then
    echo "alertmanager: ALERTMANAGER_RECEIVER=$receiver needs $1 (see .env.example)" >&2
    exit 2
  fi
}
if [ "$receiver" = email ]; then
  need ALERT_EMAIL_TO; need ALERT_EMAIL_FROM; need ALERT_SMTP_SMARTHOST
fi
if [ "$receiver" = webhook ]; then
  need ALERT_WEBHOOK_URL
fi

# Placeholders for the receivers not in use keep the config valid.
case "${ALERT_SMTP_REQUIRE_TLS:-true}" in
  true | false) ;;
  *) echo "alertmanager: ALERT_SMTP_REQUIRE_TLS must be true or false" >&2; exit 2 ;;
esac
escape() { printf '%s' "$1" | sed -e 's/[\\|&"]/\\&/g'; }
mkdir -p "$out"
umask 077
printf '%s' "${ALERT_SMTP_PASSWORD:-}" >"$out/smtp_password"
sed -e "s|@ALERTMANAGER_RECEIVER@|$receiver|" \
    -e "s|@ALERT_EMAIL_TO@|$(escape "${ALERT_EMAIL_TO:-alerts@localhost}")|" \
    -e "s|@ALERT_EMAIL_FROM@|$(escape "${ALERT_EMAIL_FROM:-alertmanager@localhost}")|" \
    -e "s|@ALERT_SMTP_SMARTHOST@|$(escape "${ALERT_SMTP_SMARTHOST:-localhost:25}")|" \
    -e "s|@ALERT_WEBHOOK_URL@|$(escape "${ALERT_WEBHOOK_URL:-http://127.0.0.1:9/unused}")|" \
    -e "s|@ALERT_SMTP_USERNAME@|$(escape "${ALERT_SMTP_USERNAME:-}")|" \
    -e "s|@ALERT_SMTP_REQUIRE_TLS@|${ALERT_SMTP_REQUIRE_TLS:-true}|" \
    -e "s|/tmp/alertmanager/|$out/|" \
    "$here/alertmanager.yml" >"$out/alertmanager.yml"
$render_only && exit 0
echo "alertmanager: alerts go to receiver '$receiver'"
exec /bin/alertmanager --config.file="$out/alertmanager.yml" --storage.path=/alertmanager "$@"
