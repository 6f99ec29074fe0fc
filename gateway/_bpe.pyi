"""Exact tiktoken token counts (cl100k_base, o200k_base), compact vocabulary: native/bpe.c."""

def measure(chunk: bytes, /) -> tuple[int, int]:
    """(tokens, decoded bytes) of a chunk of whole "base64token rank" lines."""

class Vocabulary:
    """One encoding's ranks: `tokens` tokens of `size` bytes in all, filled by `load`."""

    def __init__(self, tokens: int, size: int, encoding: str) -> None: ...
    def load(self, chunk: bytes, /) -> None:
        """Append the tokens of whole "base64token rank" lines (ranks 0, 1, ... in order)."""
    def count(self, text: str, /) -> int:
        """len(encoding.encode_ordinary(text)); UnicodeError for lone surrogates."""
    @property
    def tokens(self) -> int: ...
    @property
    def memory(self) -> int:
        """Bytes allocated for the vocabulary."""
