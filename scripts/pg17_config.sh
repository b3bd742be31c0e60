#!/usr/bin/env bash
# pg_config for the PostgreSQL 17 that scripts/prereqs.sh assembles (installed there as
# bin/pg_config): the npm server build's prefix, Debian 13's server headers and PGXS under dev/.
# It answers what cargo-pgrx and PGXS ask, in pg_config's own format.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
include=$root/dev/usr/include/postgresql
declare -A answer=(
  [--bindir]=$root/bin
  [--libdir]=$root/lib
  [--pkglibdir]=$root/lib/postgresql
  [--sharedir]=$root/share/postgresql
  [--includedir]=$include
  [--pkgincludedir]=$include
  [--includedir-server]=$include/17/server
  [--pgxs]=$root/dev/usr/lib/postgresql/17/lib/pgxs/src/makefiles/pgxs.mk
  [--cppflags]=-D_GNU_SOURCE
  [--cflags]="-Wall -Wmissing-prototypes -Wpointer-arith -Wdeclaration-after-statement -Werror=vla -Wendif-labels -Wmissing-format-attribute -Wimplicit-fallthrough=3 -Wcast-function-type -Wshadow=compatible-local -Wformat-security -fno-strict-aliasing -fwrapv -fexcess-precision=standard -O2"
  [--cflags_sl]=-fPIC
  [--ldflags]="-L$root/lib -Wl,--as-needed"
  [--libs]="-lpgcommon -lpgport -lz -lm"
  [--configure]="'--prefix=$root'"
  [--version]="PostgreSQL 17.10"
)
if [ $# -eq 0 ]; then
  for option in "${!answer[@]}"; do
    name=${option#--}
    printf '%s = %s\n' "${name^^}" "${answer[$option]}"
  done | sort
  exit 0
fi
for option in "$@"; do
  [ -n "${answer[$option]+set}" ] || { echo "pg_config: invalid argument: $option" >&2; exit 1; }
  echo "${answer[$option]}"
done
