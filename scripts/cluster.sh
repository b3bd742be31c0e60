# Sourced by the scripts: a private PostgreSQL cluster owned by the postgres user, reachable
# only through a unix socket in its own directory (no TCP listener at all).
# ONEVAULT_PG picks the major version: 15 (default; Debian's packages) or 17 (assembled by
# scripts/prereqs.sh in $ONEVAULT_PG17_ROOT; its client programs are Debian's 15 ones, its
# pg_dump and pg_restore PostgreSQL 18's).
ONEVAULT_PG=${ONEVAULT_PG:-15}
case $ONEVAULT_PG in
  15) PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config ;;
  17) PG_CONFIG=${ONEVAULT_PG17_ROOT:-/opt/onevault_tracking/pg17}/bin/pg_config ;;
  *) echo "ONEVAULT_PG=$ONEVAULT_PG: supported versions are 15 and 17" >&2; return 1 ;;
esac
PG_BIN=$("$PG_CONFIG" --bindir)
# pg_regress and the isolation tester are clients; Debian's 15 builds serve both versions.
PG_REGRESS_DIR=/usr/lib/postgresql/15/lib/pgxs/src/test

# cluster_start DIR PORT: initdb DIR if needed, start it, wait until it answers.
cluster_start() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  chmod 755 "$dir"
  chown postgres:postgres "$dir"
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    sudo -u postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log"; return 1; }
  fi
  if ! sudo -u postgres "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    sudo -u postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=''" start >/dev/null \
      || { tail -20 "$dir/postgres.log"; return 1; }
  fi
}

# cluster_stop DIR
cluster_stop() {
  sudo -u postgres "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

# cluster_crash DIR: the postmaster and all its backends killed with SIGKILL, all at once (a power
# cut, as far as the database can tell). The postmaster is stopped first so that it cannot fork
# while its children are listed (backends are session leaders of their own, so a process-group
# kill would miss them), and the children go first: a backend that outlived the postmaster by a
# moment would notice its death and say so to its client.
cluster_crash() {
  local pm kids pid
  pm=$(head -1 "$1/data/postmaster.pid")
  kill -STOP "$pm"
  kids=$(pgrep -P "$pm" || true)
  # shellcheck disable=SC2086
  [ -z "$kids" ] || kill -KILL $kids
  kill -KILL "$pm"
  for pid in $pm $kids; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  done
}

# cluster_wait_for DIR PORT DB SECONDS QUERY: waits until QUERY answers t, at most SECONDS; fails
# (status 1) if it never does.
cluster_wait_for() {
  local deadline=$((SECONDS + $4))
  until [ "$(cluster_psql "$1" "$2" -d "$3" -At -c "$5" 2>/dev/null)" = t ]; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# The exit status of a suite that cannot run on this version (it says why).
SKIPPED=77

# cluster_psql DIR PORT [psql args...]: psql as the postgres superuser, stopping on errors.
cluster_psql() {
  local dir=$1 port=$2
  shift 2
  "$PG_BIN/psql" -h "$dir" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"
}

# cluster_fresh_db DIR PORT DB: (re)creates DB with the One Vault core replica and the extension.
cluster_fresh_db() {
  local dir=$1 port=$2 db=$3 repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  PGOPTIONS='-c client_min_messages=warning' cluster_psql "$dir" "$port" -d postgres \
    -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  PGOPTIONS='-c client_min_messages=warning' cluster_psql "$dir" "$port" -d "$db" -1 \
    -f "$repo/tests/fixtures/onevault_core_replica.sql" -c 'CREATE EXTENSION onevault_tracking'
}

# install_extension [--release]: builds and installs the extension into the chosen PostgreSQL,
# with the proxy package of a scaled-out deployment (proxy/, plain SQL) beside it.
install_extension() {
  local profile=() repo
  [ "${1:-}" = --release ] && profile=(--release)
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  cargo pgrx install "${profile[@]}" --pg-config "$PG_CONFIG" >/dev/null
  install -m 644 "$repo"/proxy/onevault_tracking_proxy.control "$repo"/proxy/sql/onevault_tracking_proxy--*.sql \
    "$("$PG_CONFIG" --sharedir)/extension/"
}
