"""Encodes strings with the `tokenizers` library (PyPI), for xtask/ml/tests/oracle/bpe.rs.

Usage: python bpe_ids.py VOCABULARY CASES
VOCABULARY is JSON: {"tokens": [...], "merges": ["a b", ...], "specials": [...],
"pre": "smollm" | "gpt2" | "llama3" | "qwen2"}. CASES holds one hex-encoded UTF-8 string
per line. Prints one line per case: the ids separated by spaces, a tab, and the hex of
the library's decoding of those ids (special tokens skipped).

The tokenizer is built the way the models' own tokenizer.json files build it: a BPE model
over the vocabulary and merges, the pre-tokenizer named by `pre`, byte-level decoding, and
the special tokens matched in the raw text.
"""
import json
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

with open(sys.argv[1], encoding="utf-8") as f:
    spec = json.load(f)
vocab = {token: i for i, token in enumerate(spec["tokens"])}
merges = [tuple(m.split(" ", 1)) for m in spec["merges"]]
pre = spec["pre"]
tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=(pre == "llama3")))
byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
if pre == "gpt2":
    tokenizer.pre_tokenizer = byte_level
elif pre == "smollm":
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
else:
    pattern = LLAMA3 if pre == "llama3" else QWEN2
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
tokenizer.decoder = decoders.ByteLevel()
tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in spec["specials"]])

with open(sys.argv[2], encoding="ascii") as cases:
    for line in cases:
        text = bytes.fromhex(line.rstrip("\n")).decode("utf-8")
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        decoded = tokenizer.decode(ids, skip_special_tokens=True).encode("utf-8").hex()
        print(" ".join(map(str, ids)) + "\t" + decoded)
