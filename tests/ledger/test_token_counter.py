"""The gateway's token counter (gateway._bpe) equals tiktoken's `len(encode_ordinary(text))`
exactly, for cl100k_base and o200k_base: arbitrary text, realistic prompts, long words, and the
characters whose Unicode class is newer than Python's own tables."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import tokens
from tests import tiktoken_reference

ROOT = Path(__file__).resolve().parents[2]
ENCODINGS = tokens.OFFLINE_ENCODINGS


def assert_counts_match(text: str, name: str) -> None:
    assert tokens.vocabulary(name).count(text) == tiktoken_reference.count(text, name), text[:200]


FRAGMENTS = [
    # contractions, both cases, and the long s that (?i) folds to s
    "'s", "'S", "'ll", "'LL", "'ve", "'Re", "'d", "'M", "'t", "'x", "'ſ", "ſ", "don't", "I'M",
    # whitespace runs and the Unicode spaces tiktoken's \s knows (and \x1c, which it does not)
    " ", "  ", "    ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "\t \n", "\xa0", "\u3000", "\u2028",
    "\x0b", "\x0c", "\x1c", "\x85", "\u200b",
    # digits and other numbers
    "0", "12", "123", "1234567", "3.14", "١٢٣", "²", "Ⅻ", "߀",
    # punctuation and symbols
    ".", ",", "!?", "...", "/", "//", "://", "(", "){", "#", "@", "$%", "-", "_", "`", '"', "\\",
    # combining marks, alone and on letters
    "\u0301", "\u0300\u0301", "e\u0301", "A\u0308", "\u20dd", "\u0903",
    # emoji: skin tones, ZWJ sequences, flags, variation selectors
    "😀", "👍🏽", "👨\u200d👩\u200d👧", "🇯🇵", "\u200d", "\ufe0f", "❤️",
    # letters of every case class and script
    "日本語", "中文字", "한국어", "русский", "ΕΛΛΗΝΙΚΆ", "العربية", "हिन्दी", "ǅ", "ᾈ", "ʰ", "ª",
    "HELLO", "Hello", "hELLO", "ßtraße", "ﬁ",
    # letters newer than Python 3.11's Unicode (14.0): CJK extension H (15.0), Garay (16.0);
    # and Unicode 17.0 letters, which tiktoken's Unicode 16 tables do not know yet
    "\U00031350", "\U0003220c", "\U00010d50", "\U00010d40", "\U0003e309", "\U00010940",
]
WORD = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZé"),
               min_size=20, max_size=600)
TEXT = st.lists(
    # (lone surrogates are repaired by tokens.count before counting: tests/ledger/test_tokens.py)
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12), WORD,
              st.characters(exclude_categories=["Cs"])),
    max_size=40,
).map("".join)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_count_equals_tiktoken_for_any_text(name: str, text: str) -> None:
    assert_counts_match(text, name)


PROMPTS = [
    "You are a helpful assistant. Answer concisely and cite your sources.",
    "Summarize the following article in three bullet points:\n\nThe quarterly results, released "
    "on Tuesday, showed revenue of $4.2 billion (up 12% year-over-year), beating analysts' "
    "estimates of $3.9B. \"We're pleased,\" said the CEO. Shares rose 7.5% in after-hours trading.",
    "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1)"
    " + fibonacci(n - 2)\n\n\nprint([fibonacci(i) for i in range(20)])\n",
    '{"model": "gpt-4o", "messages": [{"role": "user", "content": "What\'s 2+2?"}], '
    '"temperature": 0.7, "max_tokens": 256, "stream": true}',
    "SELECT u.id, COUNT(*) AS calls FROM ledger l JOIN keys u ON u.id = l.key_id\n"
    "WHERE l.created_at >= NOW() - INTERVAL '7 days' GROUP BY u.id ORDER BY calls DESC;",
    "2026-12-01T11:47:03.512Z ERROR [worker-3] upstream timed out after 30000ms "
    "(attempt 2/3) url=https://api.example.com/v1/chat/completions?beta=true status=504",
    "请把下面这段话翻译成英文：今天天气很好，我们去公园散步吧。",
    "日本語の文章を要約してください。東京は日本の首都であり、世界最大の都市圏の一つです。",
    "다음 문장을 영어로 번역해 주세요: 오늘은 날씨가 정말 좋네요.",
    "Переведи на английский: «Привет, как дела? Я не видел тебя сто лет!»",
    "اكتب قصيدة قصيرة عن البحر والقمر.",
    "हिन्दी में एक छोटी कहानी लिखिए जिसमें एक बिल्ली और एक कुत्ता दोस्त बनते हैं।",
    "Schreib mir eine E-Mail an Herrn Müller über die Änderungen im Straßenverkehrsgesetz.",
    "Can you explain this emoji sequence? 👨‍👩‍👧‍👦🏳️‍🌈👍🏽🔥🔥🔥 and this one: ¯\\_(ツ)_/¯",
    "| name | value |\n|------|-------|\n| α | 0.05 |\n| β | 1e-3 |\n\n> **Note:** see "
    "[docs](https://example.com/docs#section-2).",
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "    \n\t\t  \r\n  trailing whitespace and blank lines   \n\n\n   ",
    "I'll say it's fine, you've seen they're here, we'd go, I'm sure, don't WE'LL? IT'S!",
]


def repository_texts() -> list[str]:
    """The README and the gateway's own source: large, realistic prose and code."""
    paths = [ROOT / "README.md", *sorted((ROOT / "gateway").rglob("*.py"))[:60]]
    return [path.read_text(encoding="utf-8") for path in paths]


@pytest.mark.parametrize("name", ENCODINGS)
def test_count_equals_tiktoken_on_realistic_prompts(name: str) -> None:
    for text in [*PROMPTS, *repository_texts(), "\n\n".join(PROMPTS)]:
        assert_counts_match(text, name)


@pytest.mark.parametrize("name", ENCODINGS)
def test_long_words_merge_as_tiktoken_does(name: str) -> None:
    # pieces past 256 bytes take the heap-ordered merge, not tiktoken's quadratic one
    rng = random.Random(7)
    for alphabet in ("ab", "a", "abcdefghijklmnopqrstuvwxyz", "ACGT", "aé", "日本語", "xyz1"):
        for length in (257, 700, 3000):
            assert_counts_match("".join(rng.choice(alphabet) for _ in range(length)), name)
    assert_counts_match("a" * 20000, name)


@pytest.mark.parametrize("name", ENCODINGS)
def test_characters_newer_than_pythons_unicode(name: str) -> None:
    # tiktoken's classes are Unicode 16.0's (the Rust regex-syntax tables it links): these texts
    # split differently under Python 3.11's unicodedata (14.0, as puretiktoken's pre-tokenizer
    # uses) or the regex package's (17.0); the counter must follow tiktoken's.
    for text in (
        "a\U0003220c's",
        "x\U00032120's.\U00013b82\U00013515thethe 's",
        "btheAAa\U00013841's\U00013722x",
        "1 A12\U0003e309's\n\U00032d30é.x\U00018e00",
        "\U0003f059\U0003d82a'sthe12\U0003d118\n",
    ):
        assert_counts_match(text, name)


def test_every_code_point_in_context() -> None:
    # every character Python can hold (no surrogates), beside letters, spaces, digits, itself
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for name in ENCODINGS:
        for start in range(0, len(chars), 8192):
            block = chars[start : start + 8192]
            assert_counts_match("".join(f"a{c}'s {c}{c}1{c}\n" for c in block), name)


def test_threads_count_at_once() -> None:
    # long texts are counted with the interpreter lock released: threads overlap
    texts = [" ".join(PROMPTS) * k for k in (3, 5, 8, 13)]
    expected = {text: tiktoken_reference.count(text, "o200k_base") for text in texts}
    results: dict[str, int] = {}

    def work(text: str) -> None:
        for _ in range(5):
            results[text] = tokens.count(text, "gpt-4o")

    threads = [threading.Thread(target=work, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == expected
