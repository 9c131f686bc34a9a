#!/usr/bin/env bash
# The GPU check (issue 13), for a session that is lent a GPU: one script, under 10 minutes on one
# H100/H200-class GPU. It prints every command before running it; --dry-run prints them only.
#
#   bash benchmarks/gpu_check.sh --dry-run     # what it would run (CI runs this)
#   bash benchmarks/gpu_check.sh               # run it; results in $OUT (default benchmarks/results/gpu)
#
# 1. The PPO step at realistic sizes, rlhfkit and TRL alternating in one run, bf16: GPT-2-style
#    bodies of ~125M and ~350M parameters (benchmarks/common.py: gpu_125m, gpu_350m; B 64, response
#    128). Each JSON has tokens/s, the model-FLOPs utilisation against the GPU's measured bf16 matmul
#    peak (frac_peak_step) and peak memory (torch.cuda.max_memory_allocated) of both frameworks.
# 2. Smoke runs of trainer=gpu, trainer=fsdp devices=1 and trainer=deepspeed devices=1 for SFT, RM and
#    PPO on tiny models and data written here (nothing downloaded). deepspeed is skipped, said so,
#    when it is not installed.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    *) echo "gpu_check.sh: unknown option $arg (options: --dry-run)" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-benchmarks/results/gpu}
PY=${PYTHON:-python}
FAILED=()

step() {  # step NAME TIMEOUT_S CMD...: print, then run with a time limit (unless --dry-run)
  local name=$1 limit=$2; shift 2
  echo "+ [$name] $*"
  (( DRY )) && return 0
  if ! timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; then
    echo "  FAILED: $name (log: $OUT/$name.log)"; tail -5 "$OUT/$name.log"; FAILED+=("$name")
  else
    echo "  ok: $name"
  fi
}

(( DRY )) || mkdir -p "$OUT"
if (( ! DRY )); then
  "$PY" - <<'PY' || { echo "gpu_check.sh: no CUDA device visible to torch" >&2; exit 2; }
import torch, sys
sys.exit(0 if torch.cuda.is_available() else 1)
PY
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>&1 || true
fi

# 1. the PPO step, ~125M and ~350M, bf16, rlhfkit and TRL alternating
for config in gpu_125m gpu_350m; do
  step "ppo_step_$config" 240 "$PY" benchmarks/ppo_step.py --device cuda --config "$config" --precision bf16 \
    --burn-in 1 --steps 2 --rounds 1 --compare-trl --json-out "$OUT/ppo_step_$config.json"
done

# 2. smoke runs: tiny model and data, one short pass of each stage under each strategy
DATA=$OUT/data
step smoke_data 60 "$PY" -c "
import json, pathlib, random
d = pathlib.Path('$DATA'); d.mkdir(parents=True, exist_ok=True)
rng = random.Random(0); w = 'please thanks hello world the a cat dog say tell me you'.split()
s = lambda n: ' '.join(rng.choice(w) for _ in range(n))
rows = lambda f, n: '\n'.join(json.dumps(f(i)) for i in range(n)) + '\n'
(d / 'sft.jsonl').write_text(rows(lambda i: {'prompt': f'q{i} ' + s(3), 'completion': ' ' + s(4), 'user_id': f'u{i % 6}'}, 48))
(d / 'prefs.jsonl').write_text(rows(lambda i: {'prompt': f'q{i} ' + s(3), 'chosen': ' please ' + s(2), 'rejected': ' ' + s(3), 'user_id': f'u{i % 6}'}, 48))
(d / 'prompts.jsonl').write_text(rows(lambda i: {'prompt': f'q{i} ' + s(3)}, 32))
"
COMMON=(model.size=nano debug=fast logger=csv "paths.runs_dir=$OUT/runs")
STRATEGIES=("gpu:trainer=gpu" "fsdp:trainer=fsdp trainer.devices=1" "deepspeed:trainer=deepspeed trainer.devices=1")
HAVE_DEEPSPEED=1
(( DRY )) || "$PY" -c "import deepspeed" > /dev/null 2>&1 || HAVE_DEEPSPEED=0
for entry in "${STRATEGIES[@]}"; do
  name=${entry%%:*}; read -r -a trainer <<< "${entry#*:}"
  if [[ $name == deepspeed && $HAVE_DEEPSPEED == 0 ]]; then
    echo "- [smoke_deepspeed_*] skipped: deepspeed is not installed (pip install deepspeed)"; continue
  fi
  step "smoke_${name}_sft" 120 rlhfkit train stage=sft "${trainer[@]}" "${COMMON[@]}" "data.sft.train.path=$DATA/sft.jsonl"
  step "smoke_${name}_rm" 120 rlhfkit train stage=rm "${trainer[@]}" "${COMMON[@]}" \
    "data.preference.train.path=$DATA/prefs.jsonl" stage.normalisation.mode=none
  step "smoke_${name}_ppo" 120 rlhfkit train stage=ppo "${trainer[@]}" "${COMMON[@]}" \
    "data.prompts.train.path=$DATA/prompts.jsonl" reward=keyword "reward.wanted=[please]" "reward.banned=[]"
done

if (( DRY )); then echo "dry run: nothing was run"; exit 0; fi
if (( ${#FAILED[@]} )); then echo "gpu_check.sh: failed: ${FAILED[*]}"; exit 1; fi
echo "gpu_check.sh: every step ran; results in $OUT"
