# Sourced by the benches that measure software no one here made: PyPI
# wheels (Linux x86_64, Python 3.12), downloaded once with pip into
# ~/.cache/quince-bench/NAME, then unpacked afresh for each run.
# The chain the store benches use: an old release and the new one.
WHEELS_OLD=(Django==5.1.3 numpy==2.1.2 pandas==2.2.2 ruff==0.8.4)
WHEELS_NEW=(Django==5.1.4 numpy==2.1.3 pandas==2.2.3 ruff==0.8.4)

# unpack_wheels NAME DEST WHEEL...: each wheel into DEST/<package>.
unpack_wheels() {
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/quince-bench/$1" dest="$2"
  shift 2
  mkdir -p "$cache"
  if [ "$(ls "$cache"/*.whl 2>/dev/null | wc -l)" -ne $# ]; then
    pip download -q "$@" --no-deps --only-binary=:all: \
      --platform manylinux_2_17_x86_64 --python-version 3.12 -d "$cache"
  fi
  python3 - "$cache" "$dest" <<'PY'
import glob, sys, zipfile
for wheel in sorted(glob.glob(f"{sys.argv[1]}/*.whl")):
    name = wheel.rsplit("/", 1)[1].split("-")[0]
    zipfile.ZipFile(wheel).extractall(f"{sys.argv[2]}/{name}")
PY
}
