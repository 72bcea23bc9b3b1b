# Sourced by every script: installs what is missing (uv from PyPI, the locked environment) and sets `uv`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION="0.13.8"
export UV_PYTHON_DOWNLOADS=never   # use the machine's Python 3.11; nothing to download
export UV_LINK_MODE=copy
export PATH="/usr/local/go/bin:$PATH"

if command -v uv >/dev/null 2>&1; then
  UV=(uv)
elif python3 -m uv --version >/dev/null 2>&1; then
  UV=(python3 -m uv)
else
  echo "installing uv ${UV_VERSION} from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
  UV=(python3 -m uv)
fi

"${UV[@]}" sync --all-packages --locked --quiet
