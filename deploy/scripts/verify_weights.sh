#!/bin/sh
# Verify (or, with --generate, record) the sha256 of the MODNet weights the image ships.
#
#   deploy/scripts/verify_weights.sh [--generate] [WEIGHTS_DIR]     (default: model/weights)
#
# Verify: every *.safetensors in WEIGHTS_DIR must be listed in WEIGHTS_DIR/SHA256SUMS, and every
# listed file must exist and match (a Git LFS pointer or a truncated copy fails here, at build
# time, instead of at model load). With no weights and no checksums the image can only serve
# GrabCut: that is an error unless REQUIRE_WEIGHTS=0 says it is intended.
# Generate: write SHA256SUMS for the *.safetensors present; commit it together with the weights.
set -eu

mode=verify
if [ "${1:-}" = "--generate" ]; then
    mode=generate
    shift
fi
dir=${1:-model/weights}
require=${REQUIRE_WEIGHTS:-1}
sums=SHA256SUMS

fail() {
    echo "verify_weights: $*" >&2
    exit 1
}

weights=""
if [ -d "$dir" ]; then
    weights=$(cd "$dir" && find . -maxdepth 1 -type f -name '*.safetensors' | sed 's|^\./||' | LC_ALL=C sort)
fi

if [ "$mode" = generate ]; then
    [ -n "$weights" ] || fail "no *.safetensors in $dir: nothing to record"
    # shellcheck disable=SC2086  # names come from find above and hold no spaces by convention
    (cd "$dir" && sha256sum $weights > "$sums")
    echo "verify_weights: wrote $dir/$sums"
    cat "$dir/$sums"
    exit 0
fi

listed=""
if [ -f "$dir/$sums" ]; then
    listed=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$dir/$sums" | awk '{ sub(/^\*/, "", $2); print $2 }')
fi

if [ -z "$weights" ] && [ -z "$listed" ]; then
    if [ "$require" = 0 ]; then
        echo "verify_weights: no MODNet weights shipped: GrabCut-only image (REQUIRE_WEIGHTS=0)"
        exit 0
    fi
    fail "no MODNet weights in $dir; build with REQUIRE_WEIGHTS=0 for a GrabCut-only image"
fi

[ -f "$dir/$sums" ] || fail "$dir has weights but no $sums: run deploy/scripts/verify_weights.sh --generate"

for name in $weights; do
    echo "$listed" | grep -qxF "$name" || fail "$dir/$name is not listed in $sums"
done

(cd "$dir" && sha256sum --check --strict "$sums") || fail "checksum mismatch or missing file in $dir"
echo "verify_weights: weights verified"
