"""llama.cpp's side of `cargo xtask bench llm`: one measurement, one JSON line.

Runs in the llama-cpp-python virtual environment xtask builds in target/ (CPU only).
Same token ids as the other engines; the prompt in one batch, then greedy generation one
token at a time; peak memory of this process (VmHWM, the interpreter included).
"""
import argparse, json, time

import numpy as np
from llama_cpp import Llama

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--prompt", required=True, help="comma-separated token ids")
p.add_argument("--gen-tokens", type=int, required=True)
p.add_argument("--threads", type=int, required=True)
p.add_argument("--context", type=int, default=512)
a = p.parse_args()
ids = [int(t) for t in a.prompt.split(",")]
llm = Llama(model_path=a.model, n_ctx=a.context, n_batch=512, n_threads=a.threads,
            n_threads_batch=a.threads, verbose=False, logits_all=False)
start = time.perf_counter()
llm.eval(ids)
prompt_s = time.perf_counter() - start
start = time.perf_counter()
for _ in range(a.gen_tokens):
    token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    llm.eval([token])
gen_s = time.perf_counter() - start
peak = 0
with open("/proc/self/status") as status:
    for line in status:
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1])
print(json.dumps({"prompt_tokens_per_s": len(ids) / prompt_s, "gen_tokens_per_s": a.gen_tokens / gen_s,
                  "peak_rss_kib": peak}))
