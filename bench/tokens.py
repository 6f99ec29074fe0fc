"""Micro-benchmark: the gateway's token counter (gateway._bpe) against tiktoken.

    python bench/tokens.py [--repeat N]

Per encoding and corpus: tokens per second of `tokens.vocabulary(name).count(text)` and of
tiktoken's `len(encode_ordinary(text))` (best of N), checking both give the same count; whether
another thread runs while a long text is counted (the counter releases the interpreter lock);
and the memory of each encoding loaded in a fresh process. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway import tokens  # noqa: E402
from tests import tiktoken_reference  # noqa: E402

MULTILINGUAL = (
    "请把下面这段话翻译成英文：今天天气很好，我们去公园散步吧。日本語の文章を要約してください。"
    "다음 문장을 영어로 번역해 주세요. Переведи на английский: «Привет, как дела?» "
    "اكتب قصيدة قصيرة عن البحر. हिन्दी में एक छोटी कहानी लिखिए। Straßenverkehrsgesetz 👍🏽🔥\n"
)


def corpora() -> dict[str, str]:
    code = [p.read_text() for p in sorted((ROOT / "gateway").rglob("*.py"))]
    rng = random.Random(1)
    words = " ".join("".join(rng.choice("abcdefghij") for _ in range(rng.randint(200, 2000)))
                     for _ in range(200))
    return {
        "README + gateway source": (ROOT / "README.md").read_text() + "\n".join(code),
        "multilingual chat": MULTILINGUAL * 2000,
        "long words (200-2000 letters)": words,
    }


def best(repeat: int, work: Callable[[], int]) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def speed(repeat: int) -> list[str]:
    rows = ["| encoding | corpus | chars | tokens | counter tokens/s | tiktoken tokens/s | ratio |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for name in tokens.OFFLINE_ENCODINGS:
        counter, reference = tokens.vocabulary(name), tiktoken_reference.encoding(name)
        for corpus, text in corpora().items():
            ours, n = best(repeat, lambda: counter.count(text))  # noqa: B023
            theirs, m = best(repeat, lambda: len(reference.encode_ordinary(text)))  # noqa: B023
            assert n == m, (name, corpus, n, m)
            rows.append(f"| {name} | {corpus} | {len(text):,} | {n:,} | {n / ours:,.0f} | "
                        f"{m / theirs:,.0f} | {theirs / ours:.1f}x |")
    return rows


def other_thread_runs() -> str:
    """Loop iterations the main thread makes while a long text is counted on another thread."""
    text = corpora()["README + gateway source"] * 4
    counter = tokens.vocabulary("o200k_base")
    done = threading.Event()
    worker = threading.Thread(target=lambda: (counter.count(text), done.set()))
    spins = 0
    start = time.perf_counter()
    worker.start()
    while not done.is_set():
        spins += 1
    worker.join()
    took = time.perf_counter() - start
    return f"main thread: {spins:,} loop iterations during a {took * 1000:.0f} ms count"


MEMORY = """
import json, sys
from gateway import tokens
def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}
open("/proc/self/clear_refs", "w").write("5")
before = rss()
tokens.vocabulary(sys.argv[1])
after = rss()
print(json.dumps([before["VmRSS"], after["VmRSS"], after["VmHWM"]]))
"""


def memory() -> list[str]:
    rows = ["| encoding | RSS before | after | peak | vocabulary |", "|---|---:|---:|---:|---:|"]
    for name in tokens.OFFLINE_ENCODINGS:
        out = subprocess.run([sys.executable, "-c", MEMORY, name], capture_output=True, text=True,
                             check=True, timeout=60, cwd=ROOT).stdout
        before, after, peak = json.loads(out)
        size = tokens.vocabulary(name).memory / 2**20
        rows.append(f"| {name} | {before:.1f} MB | {after:.1f} MB (+{after - before:.1f}) | "
                    f"{peak:.1f} MB (+{peak - before:.1f}) | {size:.1f} MB |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("\n".join([*speed(args.repeat), "", other_thread_runs(), "", *memory()]))


if __name__ == "__main__":
    main()
