#!/usr/bin/env bash
# A Debian bookworm base image with Python 3.11, for hosts that reach no image registry: built from Debian's own
# packages with debootstrap and imported into podman, for `podman build --build-arg BASE=IMAGE`. Where a registry
# is reachable, the Containerfile's default base (python:3.11-slim-bookworm) does this job and this is not needed.
#
# Usage (as root, needs debootstrap and podman; about a minute): container/base.sh IMAGE [ARCH]
#   IMAGE  the name to give it (`make image` gives localhost/fer-edge-base:bookworm)
#   ARCH   Debian's name for the architecture (default: this machine's); another one, such as arm64, runs its
#          packages' scripts under qemu-user-static, registered with the kernel's binfmt_misc (docs/container.md)
# The root file system is made in build/container/rootfs-ARCH (or under $FER_EDGE_BASE_WORK) and removed after.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "container/base.sh: usage: container/base.sh IMAGE [ARCH]" >&2
  exit 2
fi
IMAGE=$1
ARCH=${2:-$(dpkg --print-architecture)}
WORK=${FER_EDGE_BASE_WORK:-build/container}
ROOTFS="$WORK/rootfs-$ARCH"

if [ "$(id -u)" != 0 ]; then
  echo "container/base.sh: debootstrap needs root (sudo container/base.sh)" >&2
  exit 2
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "container/base.sh: $tool is not installed (apt-get install $tool)" >&2; exit 2; }
done

rm -rf "$ROOTFS"
mkdir -p "$WORK"
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --arch="$ARCH" --variant=minbase --include=python3,python3-venv bookworm "$ROOTFS" \
  >"$WORK/debootstrap-$ARCH.log" 2>&1 \
  || { echo "container/base.sh: debootstrap failed; see $WORK/debootstrap-$ARCH.log" >&2; exit 1; }
# As Debian's slim images do: no downloaded packages, package lists, documentation or translations.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/*
tar -C "$ROOTFS" -c . | podman import --quiet --arch "$ARCH" --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "built $IMAGE"
