#!/usr/bin/env bash
# Builds the container images that Slipway's tests, benchmarks and examples use, without
# any registry, and caches them. Each image carries the label dev.slipway.recipe = a hash
# of its recipe; an image with the same tag and recipe is not built again.
#   build-images.sh                      all images
#   build-images.sh slipway/busybox:1    only these
#   SLIPWAY_IMAGES_REBUILD=1             rebuild even when up to date
set -euo pipefail
cd "$(dirname "$0")"
CACHE=${SLIPWAY_IMAGE_CACHE:-/var/cache/slipway/images}
MIRROR=${SLIPWAY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ENV_PATH='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
DEBIAN_PACKAGES=git,make,gcc,libc6-dev,nodejs,ca-certificates,procps,netcat-openbsd

say() { printf 'images: %s\n' "$*"; }

# The recipe hash covers this script's definition of the image and its inputs.
recipe() { { declare -f "build_${1}"; echo "$ENV_PATH $DEBIAN_PACKAGES $(busybox 2>/dev/null | head -n 1)"; } | sha256sum | cut -c1-16; }

up_to_date() { # tag hash
  [ "${SLIPWAY_IMAGES_REBUILD:-0}" != 1 ] &&
    [ "$(docker image inspect -f '{{ index .Config.Labels "dev.slipway.recipe" }}' "$1" 2>/dev/null)" = "$2" ]
}

import_rootfs() { # dir tag hash cmd
  tar -C "$1" -c . | docker import \
    --change "ENV $ENV_PATH" \
    --change "CMD [\"$4\"]" \
    --change "LABEL dev.slipway.image=1 dev.slipway.recipe=$3" \
    - "$2" >/dev/null
}

base_files() { # root: passwd/group with root, a builder user (1000) and nobody; tmp; workspace
  mkdir -p "$1/etc" "$1/tmp" "$1/workspace" "$1/root" "$1/home/builder"
  chmod 1777 "$1/tmp"
  cat >"$1/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
builder:x:1000:1000:builder:/home/builder:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
  printf 'root:x:0:\nbuilder:x:1000:\nnogroup:x:65534:\n' >"$1/etc/group"
  chown 1000:1000 "$1/home/builder"
}

build_busybox() { # slipway/busybox:1 — busybox-static with every applet linked
  local root=$1
  mkdir -p "$root/bin"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  base_files "$root"
}

build_noshell() { # slipway/noshell:1 — a single static binary and no shell at all
  local root=$1
  mkdir -p "$root/bin"
  cp /bin/busybox "$root/bin/busybox"
  base_files "$root"
}

build_debian() { # slipway/debian:12 — Debian minbase with git, make, gcc and Node.js
  local root=$1
  debootstrap --variant=minbase --include="$DEBIAN_PACKAGES" bookworm "$root" "$MIRROR" >/dev/null
  chroot "$root" sh -c 'useradd -m -u 1000 -s /bin/bash builder 2>/dev/null || true; mkdir -p /workspace'
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/*
}

build() { # name tag cmd
  local name=$1 tag=$2 cmd=$3 hash started root tarball
  hash=$(recipe "$name")
  if up_to_date "$tag" "$hash"; then say "$tag up to date"; return; fi
  started=$(date +%s)
  tarball="$CACHE/$name-$hash.tar"
  if [ -f "$tarball" ]; then
    docker import --change "ENV $ENV_PATH" --change "CMD [\"$cmd\"]" \
      --change "LABEL dev.slipway.image=1 dev.slipway.recipe=$hash" "$tarball" "$tag" >/dev/null
    say "imported $tag from $tarball in $(($(date +%s) - started))s"
    return
  fi
  root=$(mktemp -d /tmp/slipway-image-XXXXXX)
  trap 'rm -rf "$root"' RETURN
  if ! "build_$name" "$root"; then say "building $tag failed"; return 1; fi
  if [ "$name" = debian ]; then
    # debootstrap is slow; keep its result so a wiped engine re-imports in seconds.
    mkdir -p "$CACHE"
    tar -C "$root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
  fi
  import_rootfs "$root" "$tag" "$hash" "$cmd"
  say "built $tag in $(($(date +%s) - started))s"
}

declare -A IMAGES=([slipway/busybox:1]="busybox sh" [slipway/noshell:1]="noshell /bin/busybox" [slipway/debian:12]="debian bash")
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(slipway/busybox:1 slipway/noshell:1 slipway/debian:12)
for tag in "${wanted[@]}"; do
  spec=${IMAGES[$tag]:-}
  if [ -z "$spec" ]; then say "unknown image $tag (known: ${!IMAGES[*]})"; exit 1; fi
  read -r name cmd <<<"$spec"
  build "$name" "$tag" "$cmd"
done
