# Shared by scripts/*: make .venv (Python 3.11+) once and install the project into it.
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Python 3.11 or newer is needed (set PYTHON=...)" >&2; exit 1; }
  "$PYTHON" -m venv .venv
fi
install_extras() {
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$1]"
}
