#!/usr/bin/env bash
# The GPU comparison of issue 13, one device call (about 7 minutes on an H100/H200):
# forward tokens/s and device memory at 8x512, 1x4096, 1x16384, 1x32768 and the MLM train
# step at 256x128 and 32x512, in f32 and bf16, for
#   ours-fused    dnabert2-model with the fused ALiBi kernel (gpu_attention)
#   ours-burn-op  the same binary through burn's attention op with a [B, H, S, S] bias
#   torch-sdpa    the in-repo PyTorch reference, scaled_dot_product_attention with the ALiBi
#                 bias as a float mask (what a user's PyTorch port runs); bf16 = autocast
#   torch-flash   the same without any bias: the speed ceiling of the attention itself
# One process per case and implementation, alternating, so each has its own peak memory.
#
# Prepared by `cargo xtask bench-gpu` (builds bench_case with --features cuda, strips it
# into target/gpu-bench/). The device machine needs CUDA's driver, python3 and torch; no
# Rust. Writes $OUT/results.jsonl, then results.json and results.md (benches/gpu/report.py).
#
# Environment: OUT (default benches/gpu/out), BIN (default target/gpu-bench/bench_case),
# BACKEND (cuda; wgpu to try it on lavapipe), DEVICE (torch device, cuda), BUDGET_S (stop
# starting cases after this many seconds, 400), CASE_TIMEOUT_S (90), RUNS (3),
# FORWARD / TRAIN / PRECISIONS / IMPLS (space-separated overrides of the lists below).
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-benches/gpu/out}
BIN=${BIN:-target/gpu-bench/bench_case}
BACKEND=${BACKEND:-cuda}
DEVICE=${DEVICE:-cuda}
BUDGET_S=${BUDGET_S:-400}
CASE_TIMEOUT_S=${CASE_TIMEOUT_S:-90}
RUNS=${RUNS:-3}
FORWARD=${FORWARD:-"8x512 1x4096 1x16384 1x32768"}
TRAIN=${TRAIN:-"256x128 32x512"}
PRECISIONS=${PRECISIONS:-"bf16 f32"}
IMPLS=${IMPLS:-"ours-fused torch-sdpa torch-flash ours-burn-op"}
mkdir -p "$OUT"
LOG="$OUT/results.jsonl"
: > "$LOG"

# cubecl-cuda loads libnvrtc at run time: also look in the wheels torch ships.
NV=$(python3 - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
print(":".join(d for r in roots for d in glob.glob(os.path.join(r, "*", "lib"))))
PY
)
export LD_LIBRARY_PATH="${NV:+$NV:}${LD_LIBRARY_PATH:-}"
[ -x "$BIN" ] || { echo "error: $BIN missing: run cargo xtask bench-gpu first" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
    | sed 's/^/gpu: /' | tee "$OUT/gpu.txt"

start=$(date +%s)
# one CASE KIND(forward|train) BxS PRECISION IMPL
one() {
    local kind=$1 shape=$2 prec=$3 impl=$4 b=${2%x*} s=${2#*x} line rc
    local tag="{\"impl\":\"$impl\",\"kind\":\"$kind\",\"batch\":$b,\"seq\":$s,\"precision\":\"$prec\""
    if [ $(( $(date +%s) - start )) -ge "$BUDGET_S" ]; then
        echo "$tag,\"error\":\"skipped: time budget\"}" >> "$LOG"; return
    fi
    case $impl in
        ours-*)
            local name
            if [ "$kind" = forward ]; then name="forward_$shape"; else name="train_step_$shape"; fi
            [ "$impl" = ours-burn-op ] && name="${name}_burn_op"
            line=$(timeout "$CASE_TIMEOUT_S" "$BIN" --backend "$BACKEND" --precision "$prec" \
                --case "$name" --runs "$RUNS" --warmup 1 2> "$OUT/last.err" | tail -1)
            rc=$? ;;
        torch-*)
            local attn=${impl#torch-} c=$kind
            [ "$kind" = train ] && c=train
            line=$(timeout "$CASE_TIMEOUT_S" python3 benches/torch_reference/bench.py --case "$c" \
                --batch "$b" --seq "$s" --device "$DEVICE" --dtype "$prec" --attn "$attn" \
                --runs "$RUNS" --warmup 1 --no-dropout 2> "$OUT/last.err" | tail -1)
            rc=$? ;;
    esac
    if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
        echo "${line%\}},\"bench\":$tag}}" >> "$LOG"
        echo "ok   $impl $kind $shape $prec: $(echo "$line" | grep -o '"tokens_per_s": *[0-9.e+]*')"
    else
        local why
        why=$(tail -c 300 "$OUT/last.err" | tr '\n"\\' '   ')
        [ "$rc" -eq 124 ] && why="timeout after ${CASE_TIMEOUT_S}s"
        echo "$tag,\"error\":\"rc $rc: $why\"}" >> "$LOG"
        echo "FAIL $impl $kind $shape $prec (rc $rc)"
    fi
}

for prec in $PRECISIONS; do
    for shape in $FORWARD; do for impl in $IMPLS; do one forward "$shape" "$prec" "$impl"; done; done
    for shape in $TRAIN; do for impl in $IMPLS; do
        [ "$impl" = torch-flash ] && continue  # training is compared against the biased stack
        one train "$shape" "$prec" "$impl"
    done; done
done
python3 benches/gpu/report.py "$LOG" "$OUT"
echo "total $(( $(date +%s) - start )) s"
