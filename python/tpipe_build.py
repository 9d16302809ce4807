"""tpipe_build.py - a self-contained PEP 517 build backend for the tpipe
extension module: it compiles the C library and the module with the compiler
and flags Python was built with and packs the wheel itself, so
``pip install .`` needs nothing from the network (not even setuptools or
wheel, which pip would otherwise try to download into its isolated build
environment).

It doubles as a script: ``python python/tpipe_build.py DIR`` builds the
extension into DIR (for running the tests from a source tree).
"""

import base64
import glob
import hashlib
import io
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "tpipe"
VERSION = "0.1.0"
SUMMARY = "Thread-safe buffered pipe between threads (C core), a drop-in for pyslet.streams"


def library_sources(root=ROOT):
    """The C library's sources: the TP_SOURCES list of the top-level
    CMakeLists.txt (so both builds compile the same files), else src/*.c."""
    try:
        with open(os.path.join(root, "CMakeLists.txt")) as f:
            text = f.read()
        m = re.search(r"set\(TP_SOURCES\s+([^)]*)\)", text)
        if m:
            files = [os.path.join(root, w) for w in m.group(1).split()
                     if w.endswith(".c") and "$" not in w]
            if files and all(os.path.isfile(p) for p in files):
                return files
    except OSError:
        pass
    return sorted(glob.glob(os.path.join(root, "src", "*.c")))


def _sources():
    lib = library_sources()
    mod = sorted(glob.glob(os.path.join(ROOT, "python", "src", "*.c")))
    if not lib or not mod:
        raise RuntimeError("tpipe sources not found under %s" % ROOT)
    return lib, mod


def _var(name):
    return sysconfig.get_config_var(name) or ""


def _run(cmd, verbose):
    if verbose:
        print(" ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    subprocess.check_call(cmd)


def build_extension(out_dir, verbose=False):
    """Compiles the extension into out_dir and returns the file's path."""
    lib, mod = _sources()
    cc = shlex.split(os.environ.get("CC") or _var("CC") or "cc")
    cflags = shlex.split(_var("CFLAGS")) + shlex.split(_var("CCSHARED"))
    cflags += shlex.split(os.environ.get("CFLAGS", ""))
    cflags += ["-std=c11", "-O2", "-pthread", "-fvisibility=hidden"]
    incs = ["-I" + os.path.join(ROOT, "include"),
            "-I" + os.path.join(ROOT, "src"),
            "-I" + os.path.join(ROOT, "python", "src"),
            "-I" + sysconfig.get_paths()["include"]]
    plat_inc = sysconfig.get_paths().get("platinclude")
    if plat_inc:
        incs.append("-I" + plat_inc)
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, NAME + (_var("EXT_SUFFIX") or ".so"))
    with tempfile.TemporaryDirectory(prefix="tpipe-build-") as tmp:
        objs = []
        for i, src in enumerate(lib + mod):
            obj = os.path.join(tmp, "%d_%s.o" % (i, os.path.basename(src)[:-2]))
            extra = ["-D_POSIX_C_SOURCE=200809L"] if src in lib else []
            _run(cc + cflags + extra + incs + ["-c", src, "-o", obj], verbose)
            objs.append(obj)
        ldshared = shlex.split(os.environ.get("LDSHARED") or _var("LDSHARED") or "cc -shared")
        ldflags = shlex.split(os.environ.get("LDFLAGS", ""))
        if sys.platform.startswith("linux"):
            # Export only PyInit_tpipe: the library's tp_* symbols stay private.
            script = os.path.join(tmp, "exports.map")
            with open(script, "w") as f:
                f.write("{ global: PyInit_%s; local: *; };\n" % NAME)
            ldflags.append("-Wl,--version-script=" + script)
        _run(ldshared + objs + ldflags + ["-pthread", "-o", target], verbose)
    return target


def _tag():
    impl = "cp" if sys.implementation.name == "cpython" else sys.implementation.name[:2]
    ver = "%d%d" % sys.version_info[:2]
    abi = impl + ver + ("d" if _var("Py_DEBUG") else "")
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "%s%s-%s-%s" % (impl, ver, abi, plat)


def _metadata():
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "Requires-Python: >=3.8\nLicense: see the project repository\n"
            % (NAME, VERSION, SUMMARY))


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "%s,sha256=%s,%d\n" % (path, digest.decode("ascii"), len(data))


# ---- PEP 517 hooks ----

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tag = _tag()
    dist_info = "%s-%s.dist-info" % (NAME, VERSION)
    wheel_name = "%s-%s-%s.whl" % (NAME, VERSION, tag)
    with tempfile.TemporaryDirectory(prefix="tpipe-wheel-") as tmp:
        ext = build_extension(tmp, verbose=bool(config_settings and config_settings.get("verbose")))
        files = [(os.path.basename(ext), open(ext, "rb").read()),
                 (dist_info + "/METADATA", _metadata().encode()),
                 (dist_info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: tpipe_build\n"
                                         "Root-Is-Purelib: false\nTag: %s\n" % tag).encode())]
        record = "".join(_record_line(p, d) for p, d in files) + dist_info + "/RECORD,,\n"
        os.makedirs(wheel_directory, exist_ok=True)
        with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                             zipfile.ZIP_DEFLATED) as zf:
            for path, data in files:
                zf.writestr(path, data)
            zf.writestr(dist_info + "/RECORD", record)
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, VERSION)
    name = base + ".tar.gz"
    members = ["pyproject.toml", "setup.py", "README.md", "LICENSE"]
    for pattern in ("CMakeLists.txt", "include/*.h", "src/*.c", "src/*.h", "python/*.py",
                    "python/src/*",
                    "python/tests/*.py", "docs/python.md"):
        members += [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern))]
    os.makedirs(sdist_directory, exist_ok=True)
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tf:
        for rel in sorted(set(members)):
            full = os.path.join(ROOT, rel)
            if os.path.isfile(full):
                tf.add(full, arcname=base + "/" + rel)
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return name


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tpipe_build.py OUTPUT_DIR")
    print(build_extension(sys.argv[1], verbose=True))
