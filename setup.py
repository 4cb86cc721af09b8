"""The optional C part of the media plane (pyproject.toml holds everything else).

`townhall.media._fanout_c` (src/townhall/media/_fanout_c.c) is the fan-out's per-listener
loop in C. It links against nothing but libc: libsrtp's functions come from pylibsrtp's
binding at run time. It is optional: without a C compiler or Python's headers the build
goes on without it, and the fan-out runs its pure-Python path (townhall.media.native says
which one runs, and why).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "townhall.media._fanout_c",
            ["src/townhall/media/_fanout_c.c"],
            extra_compile_args=[
                "-O2",
                "-std=c11",
                "-D_GNU_SOURCE",
                "-Wall",
                "-Wextra",
                "-Wno-unused-parameter",
            ],
            optional=True,
        )
    ]
)
