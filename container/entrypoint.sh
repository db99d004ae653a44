#!/bin/sh
# The image's entry point: `python -m edge` with the container's own options (those of the Pi service,
# edge/deploy/fer-edge@.service, plus the web view on port 8000 and the files in /data), then $FER_EDGE_ARGS split
# at spaces as systemd splits it there, then the arguments given after the image name. For an option given more
# than once, the last wins. The camera, token and passwords come from the environment or files (FER_EDGE_SOURCE,
# FER_EDGE_SERVE_TOKEN, FER_EDGE_MQTT_PASSWORD, or each with _FILE), never from here: `ps` would show them.
set -eu
set -f  # $FER_EDGE_ARGS is split into words, never expanded as file names
# shellcheck disable=SC2086
exec python -m edge \
  --serve 0.0.0.0:8000 \
  --detect-every 3 --smooth 0.6 --quiet \
  --jsonl /data/fer-edge.jsonl --jsonl-max-mb 10 --jsonl-keep 5 --summary-json /data/last-summary.json \
  ${FER_EDGE_ARGS:-} "$@"
