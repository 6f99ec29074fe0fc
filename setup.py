"""The C extension (gateway._bpe, the token counter); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("gateway._bpe", sources=["native/bpe.c"], depends=["native/classes.h"]),
    ]
)
