#!/usr/bin/env bash
# Proves a bundle from Launch/make-bundle.sh self-contained: in a chroot that holds only glibc's libraries and bash
# (with /proc, /dev and /sys; bc-env is run as `bash bc-env`, there being no /usr/bin/env), inside a network namespace with only loopback up, the bundle's bc-data writes a
# synthetic dataset and `mpirun -n 2 bc-train` trains ResNet50 at 32x32 for one epoch. Needs root (chroot, mounts,
# namespaces); without it, it says so and exits 2.
#   Launch/check-bundle.sh [BUNDLE_FOLDER]    # default dist/bc-train
set -euo pipefail
cd "$(dirname "$0")/.."
bundle="$(realpath "${1:-dist/bc-train}")"
if ((EUID != 0)); then echo "check-bundle: needs root (chroot, mounts, a network namespace); not run" >&2; exit 2; fi
[[ -x "$bundle/bin/bc-env" ]] || { echo "check-bundle: $bundle is not a bundle (no bin/bc-env); run Launch/make-bundle.sh" >&2; exit 1; }
jail="$(mktemp -d /tmp/bc-bundle-jail.XXXXXX)"
cleanup() { for mount in proc sys dev; do umount -l "$jail/$mount" 2>/dev/null || true; done; rm -rf "$jail"; }
trap cleanup EXIT
mkdir -p "$jail"/{bin,proc,sys,dev,tmp,opt,usr/lib,usr/lib64}
ln -s usr/lib "$jail/lib"
ln -s usr/lib64 "$jail/lib64"
chmod 1777 "$jail/tmp"
# glibc: every library of Debian's libc6 package, at its path; then bash and what bash needs besides glibc.
dpkg -L libc6 | grep -E '/lib[^/]*/.*\.so' | while read -r file; do
    [[ -e "$file" ]] && mkdir -p "$jail$(dirname "$file")" && cp -a "$file" "$jail$file"
done
cp /usr/bin/bash "$jail/bin/bash"
ln -s bash "$jail/bin/sh"
ldd /usr/bin/bash | awk '/=> \// { print $3 }' | while read -r library; do
    [[ -e "$jail$library" ]] || { mkdir -p "$jail$(dirname "$library")"; cp -L "$library" "$jail$library"; }
done
cp -a "$bundle" "$jail/opt/bc-train"
mount -t proc proc "$jail/proc"
mount -t sysfs sys "$jail/sys"
mount --rbind /dev "$jail/dev"
cat > "$jail/tmp/config.json" <<'JSON'
{"run_name": "bundle", "output_dir": "/tmp/runs",
 "model": {"architecture": "resnet50", "input_size": [32, 32], "classes": 2},
 "data": {"root": "/tmp/data", "split_fractions": [0.5, 0.25, 0.25], "loader_threads": 1},
 "training": {"epochs": 1, "batch_size": 8},
 "callbacks": {"checkpoint_every_minutes": 0, "progress": "epochs"}}
JSON
log="$(mktemp)"
status=0
unshare --net bash -c "ip link set lo up && chroot '$jail' /bin/bash -c '
    bash /opt/bc-train/bin/bc-env bc-data synth --output /tmp/data --patients 6 --images-per-patient 4 --size 32 --seed 1 &&
    bash /opt/bc-train/bin/bc-env mpirun -n 2 --bind-to none bc-train /tmp/config.json'" >"$log" 2>&1 || status=$?
ls "$jail/bin" "$jail/usr/lib/x86_64-linux-gnu" | grep -vc '^$' | xargs -I{} echo "check-bundle: the chroot held {} files besides the bundle" >&2
if ((status == 0)) && grep -q '^timing: ' "$log" && [[ -s "$jail/tmp/runs/bundle/last.h5" ]]; then
    echo "check-bundle: passed: in a chroot with only glibc and bash, no network but loopback, 2 ranks trained and wrote a checkpoint"
    grep '^timing: ' "$log"
else
    echo "check-bundle: FAILED (exit status $status); its output:" >&2
    tail -n 30 "$log" >&2
    exit 1
fi
