# shellcheck shell=bash
# Helpers shared by scripts/setup, scripts/test and scripts/demo: source it, do not run it.
#
# Variables it reads (all optional):
#   ODOO_PATH     an Odoo 18.0 source tree (odoo-bin, odoo/release.py, addons/)
#   KOMET_VENV    the virtual environment (default: ~/.cache/komet_paylink/venv)
#   KOMET_PYTHON  the interpreter the virtual environment is created with (default: python3)
set -euo pipefail
shopt -s inherit_errexit

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    echo "scripts/lib.sh is sourced by the other scripts, not run" >&2
    exit 2
fi

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
KOMET_VENV=${KOMET_VENV:-$HOME/.cache/komet_paylink/venv}
KOMET_PY=$KOMET_VENV/bin/python
KOMET_REQUIREMENTS=$REPO_ROOT/requirements-dev.txt
KOMET_CONSTRAINTS=$REPO_ROOT/scripts/pip-constraints.txt
KOMET_APT_PACKAGES=(
    wkhtmltopdf chromium zbar-tools poppler-utils # PDFs, browser tours, reading QR codes and PDFs
    libpq-dev libldap2-dev libsasl2-dev           # to build psycopg2 and python-ldap
)

log() { printf '[komet] %s\n' "$*" >&2; }
warn() { printf '[komet] WARNING: %s\n' "$*" >&2; }
die() {
    printf '[komet] ERROR: %s\n' "$*" >&2
    exit 1
}

# Print a command, indented, with the arguments that need it single-quoted for the shell.
print_cmd() {
    local arg line=
    for arg in "$@"; do
        if [[ -z "$arg" || "$arg" == *[!A-Za-z0-9_./:=,@%+-]* ]]; then
            arg="'${arg//\'/\'\\\'\'}'"
        fi
        line+=" $arg"
    done
    printf ' %s\n' "$line"
}

# --- Odoo -------------------------------------------------------------------------------------

# is_odoo18 DIR: DIR holds odoo-bin and an odoo/release.py whose version_info starts (18, 0,
is_odoo18() {
    [[ -f "$1/odoo-bin" && -f "$1/odoo/release.py" ]] &&
        grep -Eq '^version_info *= *\( *18 *, *0 *,' "$1/odoo/release.py"
}

# Print the absolute path of the Odoo 18.0 source tree to use, or nothing: $ODOO_PATH when set
# (nothing else is tried then), else the first of ../odoo beside the repository, /opt/odoo18,
# /opt/odoo that is one.
find_odoo() {
    local dir
    if [[ -n "${ODOO_PATH:-}" ]]; then
        if is_odoo18 "$ODOO_PATH"; then
            (cd -- "$ODOO_PATH" && pwd -P)
        else
            warn "ODOO_PATH=$ODOO_PATH is not an Odoo 18.0 source tree (no odoo-bin, or odoo/release.py is not 18.0)"
        fi
        return 0
    fi
    for dir in "$REPO_ROOT/../odoo" /opt/odoo18 /opt/odoo; do
        if is_odoo18 "$dir"; then
            (cd -- "$dir" && pwd -P)
            return 0
        fi
    done
    return 0
}

# --- Debian packages --------------------------------------------------------------------------

# Print, one per line, the packages of KOMET_APT_PACKAGES that are not installed.
missing_apt_packages() {
    local package
    for package in "${KOMET_APT_PACKAGES[@]}"; do
        dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed$' ||
            printf '%s\n' "$package"
    done
}

# Install the missing Debian packages when root; otherwise say what is missing and fail.
ensure_apt() {
    local missing
    if ! command -v dpkg >/dev/null; then
        warn "not a Debian system: make sure these are installed: ${KOMET_APT_PACKAGES[*]}"
        return 0
    fi
    mapfile -t missing < <(missing_apt_packages)
    ((${#missing[@]})) || return 0
    if [[ $(id -u) -ne 0 ]]; then
        warn "missing Debian packages: ${missing[*]}"
        warn "install them as root: apt-get update && apt-get install -y ${missing[*]}"
        return 1
    fi
    log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null ||
        warn "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null >/dev/null ||
        warn "apt-get install failed"
    mapfile -t missing < <(missing_apt_packages)
    ((${#missing[@]} == 0)) || {
        warn "still missing after apt-get install: ${missing[*]}"
        return 1
    }
}

# --- Python virtual environment ----------------------------------------------------------------

# The virtual environment keeps, in a stamp file, the hashes of what it was built from: the
# project's requirements (and pip constraints), and the Odoo requirements.txt it got if any.
venv_stamp_file() { printf '%s\n' "$KOMET_VENV/.komet-requirements.sha256"; }
project_hash() { cat "$KOMET_REQUIREMENTS" "$KOMET_CONSTRAINTS" | sha256sum | cut -d' ' -f1; }
odoo_hash() { sha256sum <"$1/requirements.txt" | cut -d' ' -f1; }
stamp_value() { # stamp_value KEY: the value of "KEY=..." in the stamp file, or nothing
    sed -n "s/^$1=//p" "$(venv_stamp_file)" 2>/dev/null || true
}

# venv_up_to_date [ODOO_DIR]: the virtual environment works and holds the current project
# requirements and, when ODOO_DIR is given, that Odoo's requirements.
venv_up_to_date() {
    [[ -x "$KOMET_PY" && $(stamp_value project) == "$(project_hash)" ]] || return 1
    if [[ -n "${1:-}" && $(stamp_value odoo) != "$(odoo_hash "$1")" ]]; then return 1; fi
    "$KOMET_PY" -c '' 2>/dev/null
}

# pip's output, less the notes some machines' pip configuration adds for each package.
_pip_output() {
    grep -v 'is ignored: it is neither a file nor a directory' "$1" >&2 || true
}

# ensure_venv [ODOO_DIR]: create $KOMET_VENV and pip install requirements-dev.txt, plus the
# Odoo's requirements.txt when ODOO_DIR is given. Skipped (instant) when the stamp file holds the
# hash of the current inputs. Returns 1, having said why, on failure.
ensure_venv() {
    local odoo=${1:-} python=${KOMET_PYTHON:-python3} pip_log odoo_stamp
    local requirements=(-r "$KOMET_REQUIREMENTS")
    venv_up_to_date "$odoo" && return 0
    odoo_stamp=$(stamp_value odoo)
    if ! "$KOMET_PY" -c '' 2>/dev/null; then
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            warn "no Python 3.10 or later as $python, which Odoo 18 needs (set KOMET_PYTHON)"
            return 1
        fi
        log "creating the virtual environment $KOMET_VENV"
        rm -rf -- "$KOMET_VENV"
        mkdir -p -- "$(dirname -- "$KOMET_VENV")"
        if ! "$python" -m venv "$KOMET_VENV"; then
            warn "could not create $KOMET_VENV (with Debian's python3: apt-get install python3-venv)"
            return 1
        fi
    fi
    [[ -z "$odoo" ]] || requirements+=(-r "$odoo/requirements.txt")
    log "installing Python packages into $KOMET_VENV (minutes on a fresh machine)"
    pip_log=$(mktemp)
    if ! PIP_CONSTRAINT="$KOMET_CONSTRAINTS${PIP_CONSTRAINT:+ $PIP_CONSTRAINT}" \
        "$KOMET_PY" -m pip install -q --disable-pip-version-check --progress-bar off \
        "${requirements[@]}" </dev/null >"$pip_log" 2>&1; then
        _pip_output "$pip_log"
        rm -f -- "$pip_log"
        warn "pip install failed (see above)"
        return 1
    fi
    _pip_output "$pip_log"
    rm -f -- "$pip_log"
    if ! "$KOMET_PY" -c 'import stripe, qrcode, pytest, pylint_odoo'; then
        warn "the virtual environment lacks a package it was just given"
        return 1
    fi
    if [[ -n "$odoo" ]] && ! "$KOMET_PY" -c 'import psycopg2, lxml, werkzeug, babel, PyPDF2'; then
        warn "the virtual environment lacks one of Odoo's requirements"
        return 1
    fi
    [[ -z "$odoo" ]] || odoo_stamp=$(odoo_hash "$odoo")
    printf 'project=%s\nodoo=%s\n' "$(project_hash)" "$odoo_stamp" >"$(venv_stamp_file)"
    log "virtual environment ready"
}

# komet_setup: everything scripts/setup does. Sets KOMET_ODOO to the Odoo 18 found (or to
# nothing); returns 1, having said why, when the virtual environment could not be built.
KOMET_ODOO=
# ensure_axe: axe-core (the accessibility rules the Odoo suite checks the /pay/ pages with) in
# $KOMET_AXE_JS, from the npm registry (`npm pack axe-core@4`), once.
KOMET_AXE_JS=${KOMET_AXE_JS:-$HOME/.cache/komet_paylink/axe-core/axe.min.js}
export KOMET_AXE_JS
ensure_axe() {
    [[ -s "$KOMET_AXE_JS" ]] && return 0
    if ! command -v npm >/dev/null; then
        warn "npm not found: cannot fetch axe-core into $KOMET_AXE_JS (the accessibility test needs it)"
        return 1
    fi
    local tmp
    tmp=$(mktemp -d)
    log "fetching axe-core (npm pack axe-core@4) into $KOMET_AXE_JS"
    if (cd "$tmp" && npm pack --silent axe-core@4 >/dev/null && tar xzf axe-core-*.tgz); then
        mkdir -p -- "$(dirname -- "$KOMET_AXE_JS")"
        cp -- "$tmp/package/axe.min.js" "$KOMET_AXE_JS"
        rm -rf -- "$tmp"
        return 0
    fi
    rm -rf -- "$tmp"
    warn "could not fetch axe-core from the npm registry (the accessibility test needs it)"
    return 1
}

komet_setup() {
    local apt_ok=1
    ensure_apt || apt_ok=0
    KOMET_ODOO=$(find_odoo)
    if ! ensure_venv "$KOMET_ODOO"; then
        ((apt_ok)) || warn "the missing Debian packages above are the likely cause"
        return 1
    fi
    if [[ -n "$KOMET_ODOO" ]]; then
        ensure_axe || true
    fi
    ((apt_ok)) || warn "continuing without the missing Debian packages"
    if [[ -n "$KOMET_ODOO" ]]; then
        log "Odoo 18 found at $KOMET_ODOO"
    else
        log "no Odoo 18 found (set ODOO_PATH to an Odoo 18.0 source tree): setup covers the fast checks only"
    fi
}

# --- PostgreSQL (through the venv's psycopg2, with libpq's defaults: the local socket and the
# current user, or PGHOST/PGPORT/PGUSER/PGPASSWORD) -------------------------------------------

# pg_ready: the server accepts connections (starts the local cluster if it can).
pg_ready() {
    _pg_query postgres 'SELECT 1' >/dev/null 2>&1 && return 0
    if [[ $(id -u) -eq 0 ]] && command -v pg_lsclusters >/dev/null; then
        log "starting the local PostgreSQL cluster"
        local version name
        while read -r version name _; do
            pg_ctlcluster "$version" "$name" start 2>/dev/null || true
        done < <(pg_lsclusters --no-header 2>/dev/null)
        sleep 1
        _pg_query postgres 'SELECT 1' >/dev/null 2>&1 && return 0
    fi
    return 1
}

# _pg_query DB SQL [ARG]: run SQL (with one optional %s parameter) and print the first column of
# each row; autocommit, so that CREATE/DROP DATABASE work.
_pg_query() {
    "$KOMET_PY" - "$@" <<'PYTHON'
import sys

import psycopg2

dbname, sql, *params = sys.argv[1:]
connection = psycopg2.connect(dbname=dbname)
connection.autocommit = True
with connection.cursor() as cursor:
    cursor.execute(sql, params or None)
    if cursor.description:
        for row in cursor.fetchall():
            print(row[0])
connection.close()
PYTHON
}

pg_db_exists() {
    [[ $(_pg_query postgres 'SELECT 1 FROM pg_database WHERE datname = %s' "$1") == 1 ]]
}

# pg_module_state DB MODULE: the module's state in that Odoo database ("installed", ...), or
# nothing (no such database, not an Odoo database, unknown module).
pg_module_state() {
    _pg_query "$1" 'SELECT state FROM ir_module_module WHERE name = %s' "$2" 2>/dev/null || true
}

# pg_drop_db DB: drop the database, closing the connections left to it.
pg_drop_db() {
    local ident
    ident=\"${1//\"/\"\"}\"
    _pg_query postgres "DROP DATABASE IF EXISTS $ident WITH (FORCE)" >/dev/null 2>&1 ||
        _pg_query postgres "DROP DATABASE IF EXISTS $ident" >/dev/null # PostgreSQL < 13
}

# --- misc -------------------------------------------------------------------------------------

# The venv's Python, or python3 before the venv exists.
_py() {
    if [[ -x "$KOMET_PY" ]]; then "$KOMET_PY" "$@"; else python3 "$@"; fi
}

# Print a TCP port free on 127.0.0.1.
free_port() {
    _py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() {
    _py - "$1" <<'PYTHON'
import socket
import sys

with socket.socket() as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PYTHON
}
