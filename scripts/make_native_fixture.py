"""Writes test/fixtures/native/: two tiny stand-in wheels for the native set-up tests
(test/unit/nativeSetup.test.ts). They have the TensorFlow and nvidia wheels' layout — the
entries LoRA Lab takes out and some it must leave — with a few bytes of text in place of the
libraries (the tests never load them). Deterministic: fixed timestamps, sorted entries.

    python3 scripts/make_native_fixture.py
"""

import pathlib
import zipfile

OUT = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "native"
DATE = (2026, 12, 3, 0, 0, 0)


def write(path: pathlib.Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            z.writestr(info, entries[name])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tf = {
        "tensorflow/libtensorflow_cc.so.2": b"stand-in for libtensorflow_cc.so.2\n" * 1000,
        "tensorflow/libtensorflow_framework.so.2": b"stand-in for libtensorflow_framework.so.2\n" * 100,
        "tensorflow/include/tensorflow/c/c_api.h": b"/* c_api.h */\n",
        "tensorflow/include/tensorflow/c/eager/c_api.h": b"/* eager/c_api.h */\n",
        "tensorflow/include/tensorflow/core/platform/ctstring.h": b"/* ctstring.h */\n",
        "tensorflow/include/tensorflow/core/platform/ctstring_internal.h": b"/* ctstring_internal.h */\n",
        "tensorflow/include/tsl/platform/ctstring.h": b"/* tsl ctstring.h */\n",
        "tensorflow/include/xla/tsl/c/tsl_status.h": b"/* tsl_status.h */\n",
        # Entries an install must not take: Python code, other headers, other libraries.
        "tensorflow/__init__.py": b"# python\n",
        "tensorflow/include/tensorflow/core/framework/tensor.h": b"/* C++ header */\n",
        "tensorflow/python/_pywrap_tensorflow_internal.so": b"python extension\n",
        "tensorflow_cpu-2.21.0.dist-info/METADATA": b"Name: tensorflow-cpu\nVersion: 2.21.0\n",
    }
    write(OUT / "tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl", tf)
    nv = {
        "nvidia/cudnn/lib/libcudnn.so.9": b"stand-in for libcudnn.so.9\n",
        "nvidia/cudnn/include/cudnn.h": b"/* not taken */\n",
        "nvidia/__init__.py": b"",
        "nvidia_cudnn_cu12-9.28.0.42.dist-info/METADATA": b"Name: nvidia-cudnn-cu12\n",
    }
    write(OUT / "nvidia_cudnn_cu12-9.28.0.42-py3-none-manylinux_2_27_x86_64.whl", nv)


if __name__ == "__main__":
    main()
