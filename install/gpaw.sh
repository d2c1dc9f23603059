#!/usr/bin/env bash
# Install GPAW (serial, CPU) into a virtual environment.
#
#   install/gpaw.sh [VENV]        # VENV defaults to .venv
#
# Idempotent: does nothing when GPAW already imports. Installs the Debian packages GPAW links
# against (needs root or sudo), then builds GPAW from PyPI with install/gpaw-siteconfig.py.
# The PAW setups come from the PyPI gpaw-data wheel that GPAW pulls in.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-.venv}"
python="${venv}/bin/python"

if [[ ! -x "${python}" ]]; then
    echo "no python at ${python}; create the virtual environment first" >&2
    exit 1
fi
if "${python}" -c "import gpaw" 2>/dev/null; then
    echo "gpaw already installed in ${venv}"
    exit 0
fi

packages=(libxc-dev libopenblas-dev libfftw3-dev)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    sudo_cmd=()
    if [[ "$(id -u)" -ne 0 ]]; then
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends \
        "${packages[@]}"
fi

GPAW_CONFIG="${here}/gpaw-siteconfig.py" "${python}" -m pip install --quiet gpaw
"${python}" -c "import gpaw; print('gpaw', gpaw.__version__)"
