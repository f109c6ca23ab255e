# Sourced by the Launch scripts: installs what bc-train needs on Debian 12, skipping what is already there.
set -euo pipefail

# Swift: the one on PATH, else a toolchain in a usual place (the official tarball unpacked in /opt/swift or /usr/share/swift,
# swiftly's ~/.local/share/swiftly); none stops here with what to install.
if ! command -v swift >/dev/null 2>&1; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin "$HOME/.local/share/swiftly/bin"; do
        if [[ -x "$candidate/swift" ]]; then export PATH="$candidate:$PATH"; break; fi
    done
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "setup: error: no Swift toolchain found (not on PATH, not in /opt/swift): install Swift 6.x for Linux from swift.org (Download, Linux, Debian 12) and put its usr/bin on PATH" >&2
    exit 1
fi
BC_VENV="${BC_VENV:-/opt/bc-train-venv}"

ensure_system_packages() {
    local missing=()
    for package in pkg-config libopenmpi-dev openmpi-bin libhdf5-dev libpng-dev libdnnl-dev zlib1g-dev "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if ((${#missing[@]})); then
        echo "setup: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# The Python referee (TensorFlow/Keras), used only by tests and benchmarks, never to train or predict; selenium
# drives Debian's chromium through /usr/bin/chromedriver (never its own driver download) in bc-serve's page test.
ensure_python_referee() {
    local stamp="$BC_VENV/.bc-train-requirements"
    local requirements="tensorflow-cpu==2.21.0 tf-keras==2.21.0 h5py numpy pillow scikit-learn selenium"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$requirements" ]]; then
        echo "setup: creating the Python referee environment in $BC_VENV"
        python3 -m venv "$BC_VENV"
        "$BC_VENV/bin/pip" install -q --disable-pip-version-check $requirements
        echo "$requirements" > "$stamp"
    fi
    export BC_PYTHON="$BC_VENV/bin/python"
}

# PyTorch (the CPU wheel) in the same environment: the benchmarks' second peer, never needed by bc-train or its tests.
ensure_torch_peer() {
    local stamp="$BC_VENV/.bc-train-torch" requirement="torch==2.13.0+cpu"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$requirement" ]]; then
        echo "setup: installing $requirement into $BC_VENV"
        "$BC_VENV/bin/pip" install -q --disable-pip-version-check "$requirement"
        echo "$requirement" > "$stamp"
    fi
}

# mpirun as root (containers, CI) needs explicit consent.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Ctrl-C (or SIGTERM) to mpirun: Open MPI 4.1 sends the ranks SIGCONT, then SIGTERM after odls_base_sigkill_timeout
# seconds and SIGKILL after as many again (by default 1 s each, which killed rank 0 while it wrote last.h5).
# bc-train takes the SIGCONT from mpirun as the stop request, so 15 s give the ranks 30 s to finish the step and
# write the checkpoint; mpirun returns after those 30 s. A job whose rank died also ends within them.
export OMPI_MCA_odls_base_sigkill_timeout="${OMPI_MCA_odls_base_sigkill_timeout:-15}"
# Ranks sharing a node should not spin-wait on each other's cores.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
