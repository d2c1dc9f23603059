#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver, for the browser test of the campaign report.
#
#   install/chromium.sh
#
# Idempotent: does nothing when chromium and chromedriver are on PATH. Installs the Debian
# packages chromium and chromium-driver (needs root or sudo); the Python side (selenium) is in
# the dev extra.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium already installed: $(chromium --version 2>/dev/null)"
    exit 0
fi

sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
    sudo_cmd=(sudo)
fi
"${sudo_cmd[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends \
    chromium chromium-driver
chromium --version
