"""setup.py - builds the tpipe extension with setuptools, for those who
prefer `python setup.py build_ext --inplace`. `pip install .` does not use
this file: it uses the offline backend python/tpipe_build.py (pyproject.toml).
"""
import glob
import os
import sys

from setuptools import Extension, setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))
from tpipe_build import library_sources  # noqa: E402 (the list CMake uses)

lib_sources = [os.path.relpath(p) for p in library_sources()]
module_sources = sorted(glob.glob("python/src/*.c"))

setup(
    name="tpipe",
    version="0.1.0",
    description="Thread-safe buffered pipe between threads (C core), "
                "a drop-in for pyslet.streams",
    # No Python packages: stops setuptools' auto-discovery from taking src/
    # for a package folder (and build_ext --inplace from copying there).
    packages=[],
    py_modules=[],
    ext_modules=[Extension(
        "tpipe",
        sources=module_sources + lib_sources,
        include_dirs=["include", "src", "python/src"],
        define_macros=[("_POSIX_C_SOURCE", "200809L")],
        extra_compile_args=["-std=c11", "-pthread", "-fvisibility=hidden"],
        extra_link_args=["-pthread"],
    )],
)
