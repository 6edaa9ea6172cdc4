#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the queue's tests and prints the
# connection string to use as CJ_QUEUE_TEST_POSTGRES_URL. Installs PostgreSQL from Debian's
# packages when it is missing.
#
# Everything lives in one private directory: $CJ_TEST_PG_DIR when set (an empty directory the
# caller made, as .ci/run does), else a new one under /tmp. Its data, socket and log are its own,
# so two servers started at once never touch each other. initdb's and pg_ctl's output go to files
# there, and are printed (to standard error) only when they fail. Stop the server and remove its
# directory with: runuser -u postgres -- pg_ctl -D DIR/data -m fast stop; rm -rf DIR
set -euo pipefail
port=${CJ_TEST_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 54329)}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=${CJ_TEST_PG_DIR:-$(mktemp -d /tmp/cj-pg.XXXXXX)}
chown postgres "$dir" # initdb and postgres refuse to run as root

# Runs a command as postgres with its output in $dir/$1.log, shown only if it fails.
quietly() {
  local name=$1
  shift
  if ! runuser -u postgres -- "$@" >"$dir/$name.log" 2>&1; then
    echo "postgres.sh: $name failed:" >&2
    cat "$dir/$name.log" >&2
    [ -f "$dir/log" ] && cat "$dir/log" >&2
    exit 1
  fi
}
quietly initdb "$bin/initdb" -D "$dir/data" -A trust -U postgres
quietly pg_ctl "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start
if [ -z "${CJ_TEST_PG_DIR:-}" ]; then
  echo "postgres.sh: server in $dir; stop it with: runuser -u postgres -- $bin/pg_ctl -D $dir/data -m fast stop; rm -rf $dir" >&2
fi
echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
