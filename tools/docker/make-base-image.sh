#!/usr/bin/env bash
# Makes the Node.js base image locally, for machines that cannot pull from a registry (CI here):
# the host's node binary and the shared libraries that it and the native addons framewire ships
# need, a passwd with the `node` user (uid 1000) of the official image, /tmp and /home/node, put
# into one layer with `docker import`, under the exact name the Dockerfiles' FROM uses
# (node:20-bookworm-slim). The Dockerfiles then build unchanged, offline; anywhere else `docker
# build` pulls the official image and this script is not needed.
#
#   tools/docker/make-base-image.sh            # only when no image of that name exists yet
#   tools/docker/make-base-image.sh --force    # replace the local one (never an official one)
set -euo pipefail
cd "$(dirname "$0")/../.."

# The name every Dockerfile's `ARG NODE_IMAGE=` defaults to: one source of truth.
image=$(sed -n 's/^ARG NODE_IMAGE=//p' docker/gateway.Dockerfile)
force=false
[ "${1:-}" = --force ] && force=true
# Marks our stand-in, so that --force never replaces an official image that was pulled.
local_label=io.framewire.local-base-image

if docker image inspect "$image" >/dev/null 2>&1; then
  ours=$(docker image inspect -f "{{ index .Config.Labels \"$local_label\" }}" "$image" 2>/dev/null || true)
  if [ "$force" = false ] || [ "$ours" != true ]; then
    echo "base image $image exists${ours:+ (made locally)}; nothing to do"
    exit 0
  fi
fi

node_bin=$(command -v node)
node_version=$(node -p 'process.versions.node')
case "$image" in
  node:"${node_version%%.*}"-*) ;;
  *) echo "make-base-image: $image does not match the host's Node.js $node_version" >&2; exit 1 ;;
esac
rootfs=$(mktemp -d /tmp/fw-base-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

# Debian's merged /usr: /lib and /lib64 are links into /usr, as in the official image.
mkdir -p "$rootfs"/usr/{local/bin,lib,lib64,bin} "$rootfs"/{etc,tmp,home/node}
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"
ln -s usr/bin "$rootfs/bin"
chmod 1777 "$rootfs/tmp"
cp "$node_bin" "$rootfs/usr/local/bin/node"

# Every library that node and the native addons (sharp's libvips, @napi-rs/image, libs/shm's
# framewire_shm.node) load, at the path the dynamic loader looks for it.
binaries=("$node_bin")
while IFS= read -r -d '' addon; do binaries+=("$addon"); done < <(
  find node_modules libs/shm/build -name '*.node' -print0 2>/dev/null
  find node_modules/@img -name '*.so*' -print0 2>/dev/null
)
libraries=$(for b in "${binaries[@]}"; do ldd "$b" 2>/dev/null || true; done |
  awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }' | grep -v '/node_modules/' | sort -u)
for lib in $libraries; do
  target="$rootfs/usr${lib#/usr}"
  mkdir -p "$(dirname "$target")"
  cp -L "$lib" "$target"
done

# A shell is not needed by the services, but the official image has one (and it helps `docker
# exec` when debugging): busybox-static, when the host has it.
if [ -x /bin/busybox ]; then
  cp /bin/busybox "$rootfs/usr/bin/busybox"
  ln -s busybox "$rootfs/usr/bin/sh"
fi

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chown 1000:1000 "$rootfs/home/node"

tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$node_version" \
  --change "LABEL $local_label=true" \
  --change 'CMD ["node"]' \
  - "$image" >/dev/null
echo "base image $image made locally from $node_bin (Node.js $node_version, $(echo "$libraries" | wc -w) libraries)"
