#!/bin/sh
# Register with the server, then wait for work that never comes (the run removes us).
set -eu
: "${HODEI_SERVER_URL:?HODEI_SERVER_URL is not set}"
: "${HODEI_WORKER_ID:=$(hostname)}"
echo "worker ${HODEI_WORKER_ID}: registering at ${HODEI_SERVER_URL}"
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if wget -q -O - "${HODEI_SERVER_URL}/register?worker=${HODEI_WORKER_ID}"; then
        echo
        echo "worker ${HODEI_WORKER_ID}: registered"
        exec sleep 3600
    fi
    echo "worker ${HODEI_WORKER_ID}: attempt ${attempt} failed, retrying"
    sleep 0.5
done
echo "worker ${HODEI_WORKER_ID}: could not reach ${HODEI_SERVER_URL}" >&2
exit 1
