# shellcheck shell=bash
# Shared by scripts/setup, scripts/test, scripts/demo and bench/run: source it, do not run it.
# Variables (optional): ODOO_PATH (an Odoo 18.0 source tree), KOMET_VENV (the virtual
# environment, default ~/.cache/komet_paylink/venv), KOMET_PYTHON (what creates it, python3),
# and libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD.
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
KOMET_VENV=${KOMET_VENV:-$HOME/.cache/komet_paylink/venv}
KOMET_PY=$KOMET_VENV/bin/python
APT_PACKAGES=(
    wkhtmltopdf chromium zbar-tools poppler-utils # PDFs, browser tours, reading QR codes and PDFs
    libpq-dev libldap2-dev libsasl2-dev           # to build psycopg2 and python-ldap
    postgresql-client git                         # psql, dropdb; whool versions the wheel with git
    fonts-dejavu-core                             # the PDF Pay box: every currency sign and script
    fonts-droid-fallback                          # the Pay box: Chinese, Japanese and Korean letters
)

log() { printf '[komet] %s\n' "$*" >&2; }
warn() { log "WARNING: $*"; }
die() {
    log "ERROR: $*"
    exit 1
}

# The Odoo 18.0 source tree to use, or nothing: $ODOO_PATH when set, else the first of
# ../odoo, /opt/odoo18, /opt/odoo that is one.
find_odoo() {
    local dir
    for dir in ${ODOO_PATH:-"$REPO_ROOT/../odoo" /opt/odoo18 /opt/odoo}; do
        if grep -Eqs '^version_info *= *\( *18 *, *0 *,' "$dir/odoo/release.py" &&
            [[ -f "$dir/odoo-bin" ]]; then
            (cd -- "$dir" && pwd -P)
            return 0
        fi
    done
    if [[ -n "${ODOO_PATH:-}" ]]; then warn "ODOO_PATH=$ODOO_PATH is not an Odoo 18.0 source tree"; fi
}

# Install the missing Debian packages (as root), or say which are missing.
ensure_apt() {
    command -v dpkg >/dev/null || return 0
    local package missing=()
    for package in "${APT_PACKAGES[@]}"; do
        dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed$' ||
            missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    if ((EUID)); then
        warn "missing Debian packages (as root: apt-get install ${missing[*]})"
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q "${missing[@]}"; } </dev/null >/dev/null ||
        warn "apt-get install ${missing[*]} failed"
}

# Create $KOMET_VENV and install requirements-dev.txt (and Odoo's requirements.txt when an Odoo
# is given); pip runs only when those files changed since the last time (a hash in the venv).
ensure_venv() {
    local odoo=${1:-} stamp=$KOMET_VENV/.komet-stamp hash file
    hash=$(cat "$REPO_ROOT"/requirements-dev.txt "$REPO_ROOT"/scripts/pip-constraints.txt \
        ${odoo:+"$odoo/requirements.txt"} | sha256sum)
    if "$KOMET_PY" -c '' 2>/dev/null && [[ $(cat "$stamp" 2>/dev/null) == "$hash" ]]; then
        return 0
    fi
    if ! "$KOMET_PY" -c '' 2>/dev/null; then
        log "creating the virtual environment $KOMET_VENV"
        rm -rf -- "$KOMET_VENV"
        "${KOMET_PYTHON:-python3}" -m venv "$KOMET_VENV" ||
            die "could not create $KOMET_VENV (Debian: apt-get install python3-venv)"
    fi
    log "installing Python packages into $KOMET_VENV (minutes on a fresh machine)"
    # Odoo's pins first, then the project's in a second pip run, which may move one of them
    # (oca-odoo-pre-commit-hooks wants polib 1.2, Odoo pins 1.1.1: both work with either).
    # The constraints also apply inside the isolated builds of old sdists.
    for file in ${odoo:+"$odoo/requirements.txt"} "$REPO_ROOT/requirements-dev.txt"; do
        PIP_CONSTRAINT="$REPO_ROOT/scripts/pip-constraints.txt" "$KOMET_PY" -m pip install -q \
            --disable-pip-version-check --progress-bar off -r "$file" </dev/null ||
            die "pip install -r $file failed (see above)"
    done
    printf '%s\n' "$hash" >"$stamp"
}

# axe-core, the accessibility rules the Odoo suite checks the /pay/ pages with, from the npm
# registry into $KOMET_AXE_JS, once.
KOMET_AXE_JS=${KOMET_AXE_JS:-$HOME/.cache/komet_paylink/axe-core/axe.min.js}
export KOMET_AXE_JS
ensure_axe() {
    [[ -s "$KOMET_AXE_JS" ]] && return 0
    command -v npm >/dev/null || die "npm not found: the accessibility test needs axe-core"
    local tmp
    tmp=$(mktemp -d)
    log "fetching axe-core (npm pack axe-core@4) into $KOMET_AXE_JS"
    (cd "$tmp" && npm pack --silent axe-core@4 >/dev/null && tar xzf axe-core-*.tgz) ||
        die "could not fetch axe-core from the npm registry"
    mkdir -p -- "$(dirname -- "$KOMET_AXE_JS")"
    cp -- "$tmp/package/axe.min.js" "$KOMET_AXE_JS"
    rm -rf -- "$tmp"
}

# Everything scripts/setup does; sets KOMET_ODOO to the Odoo 18 found, or to nothing.
komet_setup() {
    ensure_apt
    KOMET_ODOO=$(find_odoo)
    ensure_venv "$KOMET_ODOO"
    export PATH=$KOMET_VENV/bin:$PATH
    if [[ -n "$KOMET_ODOO" ]]; then
        ensure_axe
        log "Odoo 18 at $KOMET_ODOO"
    else
        log "no Odoo 18 found (set ODOO_PATH to an Odoo 18.0 source tree)"
    fi
}

# psql DB SQL: the first column of each row, nothing on error.
pg_value() { psql -XAtq -d "$1" -c "$2" 2>/dev/null || true; }

# PostgreSQL accepts connections (as root, start the local cluster if it is down).
pg_ready() {
    [[ $(pg_value postgres 'SELECT 1') == 1 ]] && return 0
    if ((EUID == 0)) && command -v pg_ctlcluster >/dev/null; then
        log "starting the local PostgreSQL cluster"
        pg_lsclusters --no-header | while read -r version name _; do
            pg_ctlcluster "$version" "$name" start || true
        done || true
        sleep 1
    fi
    [[ $(pg_value postgres 'SELECT 1') == 1 ]]
}

free_port() {
    "$KOMET_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
