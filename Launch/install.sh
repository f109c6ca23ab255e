#!/usr/bin/env bash
# Installs bc-train for users without root: release binaries with the Swift runtime linked in (nodes then need only
# the system libraries: Open MPI, HDF5, libpng, oneDNN) under PREFIX/bin, and the Launch scripts and example configs
# under PREFIX/share/bc-train. Where those libraries are missing too, use Launch/make-bundle.sh instead.
#   Launch/install.sh PREFIX        # e.g. Launch/install.sh ~/.local; then PREFIX/bin/bc-train --version
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# != 1)); then echo "usage: Launch/install.sh PREFIX" >&2; exit 2; fi
prefix="$(realpath -m "$1")"
source Launch/setup.sh
tools="bc-train bc-eval bc-predict bc-serve bc-data bc-inspect"
for tool in $tools; do swift build -c release --static-swift-stdlib --product "$tool"; done
built="$(swift build -c release --static-swift-stdlib --show-bin-path)"
mkdir -p "$prefix/bin" "$prefix/share/bc-train/Launch"
for tool in $tools; do install -m 755 -s "$built/$tool" "$prefix/bin/$tool"; done
install -m 644 Launch/*.json "$prefix/share/bc-train/Launch/"
install -m 755 Launch/slurm.sbatch Launch/mpirun-examples.sh "$prefix/share/bc-train/Launch/"
for tool in $tools; do
    "$prefix/bin/$tool" --version >/dev/null || { echo "install: $prefix/bin/$tool does not run" >&2; exit 1; }
done
echo "install: $tools in $prefix/bin ($("$prefix/bin/bc-train" --version))"
echo "install: add $prefix/bin to PATH; example configs and the Slurm script are in $prefix/share/bc-train/Launch"
