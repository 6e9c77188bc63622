#!/bin/sh
# An autodev notification command: posts each update event to a webhook.
#
#   autodev config set notifyCommand /usr/local/bin/notify-webhook.sh
#   echo 'https://hooks.example.org/T000/B000/XXXX' > ~/.autodev/webhook-url
#
# autodev runs it with the event's name as its only argument (update-available, applied,
# rolled-back, failed, integrity-problem) and the event as one JSON object on standard input,
# for at most notifyTimeoutSeconds (10 by default); what it prints goes to
# <home>/logs/notify-output.log, and a failure is one line in <home>/logs/notify.log.
set -eu
event="$1"
url_file="${NOTIFY_WEBHOOK_URL_FILE:-$HOME/.autodev/webhook-url}"
url="$(cat "$url_file")"
# The body is the event as autodev wrote it: {"event":…,"program":…,"version":…,"time":…}.
curl --fail --silent --show-error --max-time 8 \
  --header 'Content-Type: application/json' \
  --header "X-Autodev-Event: $event" \
  --data-binary @- "$url"
