# Sourced by scripts/*.sh: find Python >= 3.12, make .venv, install ames-batch into it.
# Usage: source scripts/_env.sh [extra]   (extra: "test" installs the test tools too)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AMES_VENV:-$ROOT/.venv}"

find_python() {
  local candidates=(python3.13 python3.12 python3 python)
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])' | sort -rV); do
      candidates+=("$(pyenv root)/versions/$v/bin/python")
    done
  fi
  for p in "${candidates[@]}"; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$p"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY="${AMES_PYTHON:-$(find_python)}" || {
    echo "ames-batch needs Python 3.12 or newer and found none." >&2
    echo "Install one (e.g. 'apt-get install python3.12 python3.12-venv', 'pyenv install 3.12'," >&2
    echo "or 'uv python install 3.12') or point AMES_PYTHON at its interpreter." >&2
    exit 2
  }
  echo "Creating $VENV with $PY ($("$PY" --version))" >&2
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.ames-installed-${1:-run}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  if [ "${1:-run}" = "test" ]; then
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
  else
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT"
  fi
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
# 3: TensorFlow C++ notes off, errors included ("failed call to cuInit" on GPU-less machines);
# Python exceptions still surface. Set TF_CPP_MIN_LOG_LEVEL=0 before the script to see them.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
