#!/usr/bin/env bash
# Builds one relocatable folder and tarball that runs bc-train on any x86-64 Linux with glibc >= 2.36, without apt,
# root or network: the release tools (Swift runtime linked in), Debian's Open MPI 4.1 (mpirun, orted, ompi_info, its
# plugins, PMIx, help files, MCA parameters) and every shared library they load except glibc's own, laid out as a
# small root (usr/bin, usr/lib/x86_64-linux-gnu, usr/share, etc), plus bin/bc-env, which sets what relocation
# needs, and the benchmark scripts.
#   Launch/make-bundle.sh [OUTPUT_FOLDER]    # default dist/: dist/bc-train/ (370 MiB) and dist/bc-train-bundle.tar.xz (40 MB)
# On the target: tar xf bc-train-bundle.tar.xz; bc-train/bin/bc-env mpirun -n 8 bc-train config.json
# (or `source bc-train/bin/bc-env` in a shell). Launch/check-bundle.sh runs it in a chroot holding only glibc.
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
output="$(realpath -m "${1:-dist}")"
tools="bc-train bc-data bc-eval bc-predict bc-inspect"
for tool in $tools; do swift build -c release --static-swift-stdlib --product "$tool"; done
built="$(swift build -c release --static-swift-stdlib --show-bin-path)"

root="$output/bc-train"
rm -rf "$root" "$output/bc-train-bundle.tar.xz"
multiarch=usr/lib/x86_64-linux-gnu
mkdir -p "$root/bin" "$root/usr/bin" "$root/$multiarch" "$root/usr/share" "$root/etc" "$root/Launch" "$root/Tests/Benchmarks"
for tool in $tools; do install -m 755 -s "$built/$tool" "$root/usr/bin/$tool"; done
for program in orterun orted ompi_info; do install -m 755 "/usr/bin/$program" "$root/usr/bin/$program"; done
ln -s orterun "$root/usr/bin/mpirun"
ln -s orterun "$root/usr/bin/mpiexec"
cp -a "/$multiarch/openmpi" "/$multiarch/pmix2" "$root/$multiarch/"
rm -rf "$root/$multiarch/openmpi/include" "$root/$multiarch/pmix2/include"
cp -a /usr/share/openmpi "$root/usr/share/"
cp -a /etc/openmpi "$root/etc/"
cp Launch/bench-scale.sh "$root/Launch/"
cp Tests/Benchmarks/torch_train_step.py "$root/Tests/Benchmarks/"

# Every library the programs and plugins load, found recursively by ldd, except glibc's (the target's own).
is_glibc() { [[ "$(basename "$1")" =~ ^(ld-linux.*|libc|libm|libmvec|libpthread|libdl|librt|libutil|libresolv|libanl|libnsl|libBrokenLocale|libnss_.*|libthread_db|libc_malloc_debug)\.so ]]; }
mapfile -t objects < <(find "$root/usr/bin" "$root/$multiarch" -type f \( -perm -u+x -o -name '*.so*' \))
declare -A copied=()
for object in "${objects[@]}"; do
    while read -r library; do
        [[ -z "$library" || -n "${copied[$library]:-}" ]] && continue
        copied[$library]=1
        is_glibc "$library" && continue
        [[ "$library" == "$root"/* ]] && continue
        [[ -e "$root/$multiarch/$(basename "$library")" ]] || cp -L "$library" "$root/$multiarch/$(basename "$library")"
    done < <(LD_LIBRARY_PATH="$root/$multiarch:$root/$multiarch/openmpi/lib" ldd "$object" 2>/dev/null | awk '/=> \// { print $3 }')
done

cat > "$root/bin/bc-env" <<'ENV'
#!/usr/bin/env bash
# The environment a relocated bc-train bundle needs (sourced, it sets it in the shell; with arguments, it runs them).
# Bash builtins only: the bundle must work where no other program is installed.
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here=.
bundle="$(cd "$here/.." && pwd)"
usr="$bundle/usr" lib="$bundle/usr/lib/x86_64-linux-gnu"
export PATH="$usr/bin:$PATH"
# Only the bundle's libraries and Open MPI: a machine's own Open MPI must not mix in.
export LD_LIBRARY_PATH="$lib:$lib/openmpi/lib"
# Debian's Open MPI and PMIx layouts are not relative to one prefix: every folder is named.
export OPAL_PREFIX="$usr" OPAL_EXEC_PREFIX="$usr" OPAL_BINDIR="$usr/bin" OPAL_LIBDIR="$lib/openmpi/lib" \
    OPAL_PKGLIBDIR="$lib/openmpi/lib/openmpi3" OPAL_DATAROOTDIR="$usr/share" OPAL_DATADIR="$usr/share" \
    OPAL_PKGDATADIR="$usr/share/openmpi" OPAL_SYSCONFDIR="$bundle/etc/openmpi"
export PMIX_PREFIX="$lib/pmix2" PMIX_EXEC_PREFIX="$lib/pmix2" PMIX_LIBDIR="$lib/pmix2/lib" \
    PMIX_DATADIR="$lib/pmix2/share" PMIX_PKGDATADIR="$lib/pmix2/share/pmix" PMIX_SYSCONFDIR="$lib/pmix2/etc" \
    PMIX_MCA_mca_base_component_path="$lib/pmix2/lib/pmix"
export OMPI_MCA_mca_base_component_path="$lib/openmpi/lib/openmpi3"
export OMPI_MCA_mca_base_param_files="$bundle/etc/openmpi/openmpi-mca-params.conf"
export HWLOC_PLUGINS_PATH="$bundle/var/no-hwloc-plugins"
# Root in a container may run mpirun; one node without ssh starts its ranks itself.
if ((EUID == 0)); then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
if ! command -v ssh >/dev/null 2>&1; then export OMPI_MCA_plm_rsh_agent=""; fi
export OMPI_MCA_odls_base_sigkill_timeout="${OMPI_MCA_odls_base_sigkill_timeout:-15}"
export BC_BIN="$usr/bin"
if (($#)); then exec "$@"; fi
ENV
chmod 755 "$root/bin/bc-env"
mkdir -p "$root/var/no-hwloc-plugins"
echo "$(git describe --always --dirty 2>/dev/null || echo unknown) built $(date -u +%Y-%m-%dT%H:%MZ) on $(. /etc/os-release; echo "$PRETTY_NAME")" > "$root/VERSION"

# One xz stream with a 64 MiB window: the five tools share most of their bytes (the Swift runtime and ICU data), and
# a window that spans two of them stores those once (40 MB instead of 92 MB; about 3 minutes on 2 cores).
tar -C "$output" --sort=name -cf - bc-train | xz -9 -T1 > "$output/bc-train-bundle.tar.xz"
echo "make-bundle: $root ($(du -sh "$root" | cut -f1)), $output/bc-train-bundle.tar.xz ($(du -h "$output/bc-train-bundle.tar.xz" | cut -f1)); glibc >= $(objdump -T "$root"/usr/bin/* "$root/$multiarch"/*.so* 2>/dev/null | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2 -n -u | tail -n 1 | cut -d_ -f2) needed"
