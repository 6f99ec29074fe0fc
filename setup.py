"""The C extension (gateway._bpe, the token counter; optional: without a compiler the install
falls back to tiktoken); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gateway._bpe",
            sources=["native/bpe.c", "native/pieces.c", "native/merge.c"],
            depends=["native/classes.h", "native/merge.h", "native/pieces.h", "native/ranks.h"],
            # Without a C compiler the install still succeeds; gateway.tokens then counts
            # with tiktoken's own encoder (same counts, more memory) and logs so.
            optional=True,
        ),
    ]
)
