"""The C extension (gateway._bpe, the token counter); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gateway._bpe",
            sources=["native/bpe.c", "native/pieces.c", "native/merge.c"],
            depends=["native/classes.h", "native/merge.h", "native/pieces.h", "native/ranks.h"],
        ),
    ]
)
