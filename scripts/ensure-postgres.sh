#!/usr/bin/env bash
# Make a PostgreSQL server answer on 127.0.0.1:5432 for the tests: use a
# running one, start an installed one, or install Debian's package. Exits
# non-zero if none can be had: the PostgreSQL tests must run, not skip.
set -euo pipefail

host=${SYNCD_TEST_PGHOST:-127.0.0.1}
port=${SYNCD_TEST_PGPORT:-5432}

ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$host" -p "$port"
  else
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
  fi
}

wait_ready() {
  for _ in $(seq 1 30); do
    ready && return 0
    sleep 1
  done
  return 1
}

if ready; then
  echo "postgresql: running on $host:$port"
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "postgresql: not installed; installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq postgresql >/dev/null
  installed=1
fi

version=$(ls /etc/postgresql | sort -V | tail -n1)
if [ "${installed:-0}" = 1 ]; then
  # A fresh cluster only trusts local peers; the tests connect over TCP as
  # `postgres` without a password, as on the project's machines.
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
fi
echo "postgresql: starting cluster $version/main"
as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
if wait_ready; then
  echo "postgresql: running on $host:$port"
  exit 0
fi
echo "postgresql: could not be started on $host:$port" >&2
exit 1
