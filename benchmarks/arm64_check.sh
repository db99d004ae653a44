#!/usr/bin/env bash
# Proof that edge/ runs on 64-bit Arm (a Raspberry Pi 4/5 on Raspberry Pi OS bookworm), checked on an
# x86 Debian/Ubuntu machine under user-mode emulation. Not part of the test suite (it takes minutes).
#
#  1. Debian bookworm arm64 packages for Python 3.11, downloaded by apt with a private arm64 state and
#     unpacked (dpkg -x) into a sysroot. No chroot, no binfmt registration needed.
#  2. Exactly edge/requirements.txt, as aarch64 wheels for CPython 3.11, installed into a folder.
#  3. `python -m edge --source demo` with the shipped model and each detector (haar, yunet), run by
#     qemu-aarch64-static -L SYSROOT on an emulated Cortex-A72 (a Pi 4's core). It must find faces and
#     label them.
#
# qemu-user passes the host's x86 /proc/cpuinfo through, and LiteRT's CPU detection (the cpuinfo library)
# crashes on it (a null dereference after it finds no ARM cores). So step 3 runs in a private mount
# namespace (`unshare -m`, root) where a Pi 4's /proc/cpuinfo is bind-mounted over the host's.
#
# Needs: root; apt-get install qemu-user-static debian-archive-keyring; pip for python3. From the repo root:
#   sudo bash benchmarks/arm64_check.sh       (WORK=DIR to choose the cache folder)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${WORK:-$HOME/.cache/fer-edge-arm64}
ROOT=$WORK/sysroot
SITE=$WORK/site
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
FRAMES=${FRAMES:-10}

fail() { echo "arm64_check: error: $*" >&2; exit 1; }
say() { echo "arm64_check: $*"; }

QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
[ -n "$QEMU" ] || fail "qemu-aarch64-static not found: apt-get install qemu-user-static"
[ -f "$KEYRING" ] || fail "$KEYRING not found: apt-get install debian-archive-keyring"

if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  say "downloading Debian bookworm arm64 Python 3.11 into $ROOT"
  mkdir -p "$WORK/lists/partial" "$WORK/debs/partial" "$ROOT"
  : > "$WORK/status"
  echo "deb [arch=arm64 signed-by=$KEYRING] $MIRROR bookworm main" > "$WORK/sources.list"
  apt_opts=(-o APT::Architecture=arm64 -o APT::Architectures=arm64 -o "Dir::State::Lists=$WORK/lists"
    -o "Dir::State::status=$WORK/status" -o "Dir::Cache::archives=$WORK/debs"
    -o "Dir::Etc::SourceList=$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Debug::NoLocking=1)
  apt-get "${apt_opts[@]}" -qq update || fail "apt-get update for arm64 failed (is $MIRROR reachable?)"
  apt-get "${apt_opts[@]}" -qq -y --download-only install python3.11 libstdc++6 \
    || fail "downloading the arm64 packages failed"
  for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$ROOT"; done
fi
PY=("$QEMU" -cpu cortex-a72 -L "$ROOT" "$ROOT/usr/bin/python3.11")
say "emulated interpreter: $("${PY[@]}" -c 'import platform, sys; print(platform.machine(), sys.version.split()[0])')"

if [ ! -f "$SITE/.installed" ] || [ "$REPO/edge/requirements.txt" -nt "$SITE/.installed" ]; then
  say "installing edge/requirements.txt as aarch64 wheels for CPython 3.11 into $SITE"
  rm -rf "$SITE"
  python3 -m pip install --quiet --target "$SITE" --only-binary=:all: --implementation cp --python-version 3.11 \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux2014_aarch64 -r "$REPO/edge/requirements.txt" || fail "no aarch64 wheels for edge/requirements.txt"
  touch "$SITE/.installed"
fi

cpuinfo=$WORK/cpuinfo
for core in 0 1 2 3; do
  printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n' "$core"
  printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
done > "$cpuinfo"
printf 'Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B (emulated)\n' >> "$cpuinfo"
unshare -m true 2>/dev/null || fail "unshare -m is not permitted (run as root): needed to show LiteRT an ARM /proc/cpuinfo"

for detector in haar yunet; do
  say "running python -m edge --source demo --detector $detector under emulation (slow: every instruction is translated)"
  summary=$WORK/summary-$detector.json
  # shellcheck disable=SC2016  # $0 and $@ belong to the inner sh, on purpose
  (cd "$REPO" && PYTHONPATH="$SITE:$REPO" unshare -m sh -c 'mount --bind "$0" /proc/cpuinfo && exec "$@"' \
    "$cpuinfo" "${PY[@]}" -m edge --source demo --demo-frames "$FRAMES" --detector "$detector" --summary-json "$summary") \
    || fail "python -m edge --detector $detector failed under emulation"
  "${PY[@]}" - "$summary" "$FRAMES" "$detector" <<'PY'
import json, platform, sys
summary, frames, detector = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3]
assert platform.machine() == "aarch64", platform.machine()
assert summary["frames"] == frames, summary
assert summary["frames_with_faces"] == frames and summary["labels"], summary
print(f"arm64_check: PASS on {platform.machine()} with --detector {detector}: {summary['frames']} frames,"
      f" {summary['faces']} faces, labels {summary['labels']}, runtime {summary['runtime']} ({summary['input_dtype']}),"
      f" detect {summary['stages']['detect']['p50_ms']} ms p50 (emulated: says nothing about a Pi)")
PY
done
