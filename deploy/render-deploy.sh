#!/usr/bin/env bash
# Deploys one image to one Render service and waits until Render says it is live.
#
#   RENDER_API_KEY=… deploy/render-deploy.sh SERVICE_NAME HOOK_URL IMAGE@sha256:DIGEST
#
# A deploy hook only queues a deploy, so this triggers it (with `imgURL`, the exact image
# by digest), then polls Render's API for that deploy's status every POLL_SECS (10) until
# it is `live`, it fails, or TIMEOUT_SECS (900) pass. It prints the deploy's id, status and
# image, and exits 0 only when live: 1 when the deploy failed or was cancelled, 2 for a
# usage error, 3 when the deploy is still not live at the timeout.
#
# The service id is the `srv-…` part of the hook URL. RENDER_API_URL (default
# https://api.render.com/v1) is for tests. Needs curl and jq.
set -euo pipefail

usage() { echo "usage: $0 SERVICE_NAME HOOK_URL IMAGE_REF" >&2; exit 2; }
(($# == 3)) || usage
name="$1" hook="$2" image="$3"
[[ -n "$hook" ]] || { echo "::error::$name: the deploy hook URL is empty (secret not set?)" >&2; exit 2; }
[[ -n "${RENDER_API_KEY:-}" ]] || { echo "::error::RENDER_API_KEY is not set" >&2; exit 2; }
[[ "$image" == *@sha256:* ]] || { echo "::error::$name: deploy an image by digest, not $image" >&2; exit 2; }
api="${RENDER_API_URL:-https://api.render.com/v1}"
timeout="${TIMEOUT_SECS:-900}"
poll="${POLL_SECS:-10}"
service="$(grep -oE 'srv-[a-z0-9]+' <<<"$hook" | head -1)" || true
[[ -n "$service" ]] || { echo "::error::$name: no srv-… service id in the deploy hook URL" >&2; exit 2; }

render_api() {
  curl --fail --silent --show-error --retry 3 --max-time 30 \
    -H "Authorization: Bearer $RENDER_API_KEY" -H "Accept: application/json" "$api$1"
}

# Trigger. The hook answers with the queued deploy; should it answer with nothing, the
# newest deploy of the service created since the trigger (less 10 s for clock skew,
# compared to the second) is the one.
since="$(date -u -d '-10 seconds' +%Y-%m-%dT%H:%M:%S)"
queued="$(curl --fail --silent --show-error --retry 3 --max-time 30 -X POST \
  --get --data-urlencode "imgURL=$image" "$hook")"
deploy="$(jq -r '.deploy.id // .id // empty' <<<"${queued:-null}" 2>/dev/null || true)"
echo "$name: deploy of $image queued${deploy:+ as $deploy}"

deadline=$((SECONDS + timeout))
status=unknown
while ((SECONDS < deadline)); do
  if [[ -z "$deploy" ]]; then
    deploy="$(render_api "/services/$service/deploys?limit=5" | jq -r --arg since "$since" \
      '[.[] | (.deploy // .) | select(.createdAt[0:19] >= $since)] | sort_by(.createdAt) | last | .id // empty')"
  fi
  if [[ -n "$deploy" ]]; then
    body="$(render_api "/services/$service/deploys/$deploy")"
    status="$(jq -r '.status' <<<"$body")"
    case "$status" in
      live)
        ref="$(jq -r '.image.ref // .image.sha // empty' <<<"$body")"
        echo "$name: deploy $deploy is live (${ref:-$image})"
        exit 0
        ;;
      build_failed | update_failed | pre_deploy_failed | canceled | deactivated)
        echo "::error::$name: deploy $deploy ended $status"
        exit 1
        ;;
    esac
    echo "$name: deploy $deploy is $status"
  fi
  sleep "$poll"
done
echo "::error::$name: deploy ${deploy:-(not found)} is still $status after ${timeout}s"
exit 3
