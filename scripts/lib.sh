# Shared by scripts/setup, scripts/test and scripts/demo. Sourced, not run.
# shellcheck shell=bash

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KOMET_VENV=${KOMET_VENV:-$HOME/.cache/komet_paylink/venv}
PY="$KOMET_VENV/bin/python"
APT_PACKAGES=(wkhtmltopdf chromium zbar-tools poppler-utils libpq-dev libldap2-dev libsasl2-dev)

log() { printf '[komet] %s\n' "$*" >&2; }

is_odoo18() {
    [[ -f "$1/odoo-bin" && -f "$1/odoo/release.py" ]] &&
        grep -Eq '^version_info = \(18, 0,' "$1/odoo/release.py"
}

# Print the path of an Odoo 18.0 source tree, or nothing: $ODOO_PATH, else ../odoo beside the
# repository, /opt/odoo18, /opt/odoo.
find_odoo() {
    local candidate
    for candidate in "${ODOO_PATH:-}" "$REPO_ROOT/../odoo" /opt/odoo18 /opt/odoo; do
        if [[ -n "$candidate" ]] && is_odoo18 "$candidate"; then
            (cd "$candidate" && pwd)
            return 0
        fi
    done
    return 0
}

ensure_apt() {
    local missing=() package
    for package in "${APT_PACKAGES[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    if [[ $(id -u) -ne 0 ]]; then
        log "missing Debian packages (install them as root): ${missing[*]}"
        return 1
    fi
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_postgres() {
    pg_isready -q 2>/dev/null && return 0
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start 2>/dev/null || true
    pg_isready -q
}

# The virtual environment with the project's tools and, when an Odoo is found, Odoo's own
# requirements. Rebuilt only when a requirements file changes.
ensure_venv() {
    local odoo=$1 stamp_file="$KOMET_VENV/.komet_stamp" stamp constraints
    stamp=$(cat "$REPO_ROOT/requirements-dev.txt" ${odoo:+"$odoo/requirements.txt"} | sha256sum | cut -c1-16)
    if [[ -x "$PY" && -f "$stamp_file" && $(cat "$stamp_file") == "$stamp" ]]; then
        return 0
    fi
    log "installing Python packages into $KOMET_VENV"
    [[ -x "$PY" ]] || python3 -m venv "$KOMET_VENV"
    constraints=$(mktemp)
    # Some of Odoo's pinned packages still build with pkg_resources.
    echo 'setuptools<70' >"$constraints"
    PIP_CONSTRAINT=$constraints "$PY" -m pip install -q --disable-pip-version-check \
        -r "$REPO_ROOT/requirements-dev.txt" ${odoo:+-r "$odoo/requirements.txt"} 2>&1 |
        grep -v 'is ignored: it is neither a file nor a directory' || true
    rm -f "$constraints"
    "$PY" -c 'import stripe, qrcode' || return 1
    echo "$stamp" >"$stamp_file"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
