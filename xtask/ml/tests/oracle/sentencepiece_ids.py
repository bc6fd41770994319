"""Encodes strings with the SentencePiece library, for xtask/ml/tests/oracle/tokenizer.rs.

Usage: python sentencepiece_ids.py MODEL CASES
MODEL is a serialized sentencepiece ModelProto; CASES holds one hex-encoded UTF-8 string
per line. Prints one line per case: the ids separated by spaces, a tab, and the hex of
the library's decoding of those ids.
"""
import sys

import sentencepiece

processor = sentencepiece.SentencePieceProcessor(model_file=sys.argv[1])
with open(sys.argv[2], encoding="ascii") as cases:
    for line in cases:
        text = bytes.fromhex(line.rstrip("\n")).decode("utf-8")
        ids = processor.encode(text)
        decoded = processor.decode(ids).encode("utf-8").hex()
        print(" ".join(map(str, ids)) + "\t" + decoded)
