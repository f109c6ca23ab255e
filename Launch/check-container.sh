#!/usr/bin/env bash
# Checks the container recipe (Launch/Dockerfile, Launch/bc-train.def) without Docker or Apptainer: builds the
# container's root file system from this Debian 12 machine's own packages, the packages debian:12-slim starts from
# (Priority: required) plus Launch/container-packages.txt and everything they depend on, adds the tools
# Launch/install.sh built (dist/container, the folder both recipes copy), and in a chroot of exactly that, without
# network but loopback, `bc-data` writes a dataset and `mpirun -n 2 bc-train` trains ResNet50 at 32x32 for one epoch.
# A library missing from the package list fails the run. Where docker or apptainer is installed, it also builds the
# image and runs `bc-train --version` in it. Needs root (chroot, mounts, a network namespace).
#   Launch/check-container.sh        # builds dist/container with Launch/install.sh first if it is not there
set -euo pipefail
cd "$(dirname "$0")/.."
if ((EUID != 0)); then echo "check-container: needs root (chroot, mounts, a network namespace); not run" >&2; exit 2; fi
[[ -x dist/container/bin/bc-train ]] || Launch/install.sh dist/container
jail="$(mktemp -d /tmp/bc-container-root.XXXXXX)"
cleanup() { for mount in proc sys dev; do umount -l "$jail/$mount" 2>/dev/null || true; done; rm -rf "$jail"; }
trap cleanup EXIT

# The packages: required ones (a minimal Debian), the recipe's, and their dependencies, as apt resolves them.
# apt-cache lists every alternative of a dependency; those not installed here are left out (the installed one
# satisfies it).
listed="$(grep -v '^#' Launch/container-packages.txt)"
required="$(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" { print $1 }')"
# shellcheck disable=SC2086
closure="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances $listed $required | grep -v '^ ' | grep -v '^<' | sed 's/:amd64$//' | sort -u)"
for package in $listed; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
        || { echo "check-container: $package (Launch/container-packages.txt) is not installed here; cannot check" >&2; exit 1; }
done

# Debian 12 merges /bin, /sbin and /lib into /usr.
mkdir -p "$jail"/{proc,sys,dev,tmp,opt,usr/bin,usr/sbin,usr/lib,usr/lib64}
for directory in bin sbin lib lib64; do ln -s "usr/$directory" "$jail/$directory"; done
chmod 1777 "$jail/tmp"
copied=0
for package in $closure; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || continue
    copied=$((copied + 1))
    dpkg -L "$package" | grep -v -E '^/usr/share/(doc|man|locale|info)/' | while read -r file; do
        [[ -f "$file" || -L "$file" ]] || continue
        mkdir -p "$jail$(dirname "$file")"
        cp -a "$file" "$jail$file" 2>/dev/null || true
    done
done
# Configuration files the packages' maintainer scripts would write: the dynamic linker's cache and Open MPI's
# alternatives (mpirun is a link debian's alternatives system makes).
mkdir -p "$jail/etc"
cp -a /etc/alternatives "$jail/etc/"
for link in /usr/bin/*; do
    [[ -L "$link" && "$(readlink "$link")" == /etc/alternatives/* && -e "$jail$(readlink -f "$link")" ]] && cp -a "$link" "$jail$link"
done
chroot "$jail" /sbin/ldconfig
cp -a dist/container "$jail/opt/bc-train"
mount -t proc proc "$jail/proc"
mount -t sysfs sys "$jail/sys"
mount --rbind /dev "$jail/dev"
cat > "$jail/tmp/config.json" <<'JSON'
{"run_name": "container", "output_dir": "/tmp/runs",
 "model": {"architecture": "resnet50", "input_size": [32, 32], "classes": 2},
 "data": {"root": "/tmp/data", "split_fractions": [0.5, 0.25, 0.25], "loader_threads": 1},
 "training": {"epochs": 1, "batch_size": 8},
 "callbacks": {"checkpoint_every_minutes": 0, "progress": "epochs"}}
JSON
log="$(mktemp)"
status=0
unshare --net bash -c "ip link set lo up && chroot '$jail' /usr/bin/env -i PATH=/opt/bc-train/bin:/usr/bin:/bin HOME=/tmp \
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 /bin/bash -c '
    bc-train --version &&
    bc-data synth --output /tmp/data --patients 6 --images-per-patient 4 --size 32 --seed 1 &&
    mpirun -n 2 --bind-to none bc-train /tmp/config.json'" >"$log" 2>&1 || status=$?
echo "check-container: the root held $copied packages ($(du -sm "$jail" --exclude=proc --exclude=sys --exclude=dev | cut -f1) MB)" >&2
if ((status == 0)) && grep -q '^timing: ' "$log" && [[ -s "$jail/tmp/runs/container/last.h5" ]]; then
    echo "check-container: passed: on Debian 12's required packages plus Launch/container-packages.txt (and their"
    echo "  dependencies), without network but loopback, 2 ranks trained and wrote a checkpoint"
    grep -E '^(bc-train |timing: )' "$log"
else
    echo "check-container: FAILED (exit status $status); its output:" >&2
    tail -n 30 "$log" >&2
    exit 1
fi

for tool in docker apptainer; do
    if ! command -v "$tool" >/dev/null; then
        echo "check-container: $tool is not installed here: its image was not built (the recipe's steps were checked above)"
    elif [[ "$tool" == docker ]] && ! docker info >/dev/null 2>&1; then
        echo "check-container: docker is installed but its daemon does not run here: the image was not built (the recipe's steps were checked above)"
    elif [[ "$tool" == docker ]]; then
        docker build -f Launch/Dockerfile -t bc-train:check .
        docker run --rm bc-train:check bc-train --version
    else
        apptainer build --force /tmp/bc-train-check.sif Launch/bc-train.def
        apptainer exec /tmp/bc-train-check.sif bc-train --version
        rm -f /tmp/bc-train-check.sif
    fi
done
