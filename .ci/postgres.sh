#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the queue's tests and prints the
# connection string to use as CJ_QUEUE_TEST_POSTGRES_URL. Installs PostgreSQL from Debian's
# packages when it is missing. Stop it with: runuser -u postgres -- pg_ctl -D DIR/data stop
set -euo pipefail
port=${CJ_TEST_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 54329)}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=$(mktemp -d /tmp/cj-pg.XXXXXX)
chown postgres "$dir" # initdb and postgres refuse to run as root
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >&2
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >&2
echo "$dir" > /tmp/cj-pg.dir
echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
