#!/usr/bin/env python3
"""The C ABI as text, compared with the committed ffi/abi.txt.

    abi.py check HEADER ABI_FILE    fails when the ABI changed but the version did not
    abi.py write HEADER ABI_FILE    records the current ABI (`make abi`)

The ABI is the version, every exported function's signature, every
callback type, every constant, and the size, alignment and field offsets
of every public struct (measured by compiling a C program against the
header). A change to any of them with the same RMPSC_VERSION_* is an error:
bump the version (the major one for an incompatible change) and run
`make abi`.
"""

import os
import re
import subprocess
import sys
import tempfile

from check_abi import declarations


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)


def version(header):
    v = {k: re.search(rf"#define RMPSC_VERSION_{k} (\d+)", header).group(1)
         for k in ("MAJOR", "MINOR", "PATCH")}
    return f"{v['MAJOR']}.{v['MINOR']}.{v['PATCH']}"


def structs(header):
    """Public struct names and their field names, in order."""
    text = strip_comments(header)
    out = []
    for m in re.finditer(r"typedef struct \{(.*?)\}\s*(rmpsc_\w+);", text, re.S):
        fields = [re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", f.strip())[0]
                  for f in m.group(1).split(";") if f.strip()]
        out.append((m.group(2), fields))
    return out


def layouts(header_path, header):
    """`struct size align field@offset...` lines, measured by the compiler."""
    body = []
    for name, fields in structs(header):
        fmt = f"struct {name} size %zu align %zu " + " ".join(f"{f}@%zu" for f in fields)
        args = ", ".join([f"sizeof({name})", f"_Alignof({name})"] +
                         [f"offsetof({name}, {f})" for f in fields])
        body.append(f'printf("{fmt}\\n", {args});')
    src = (
        "#include <stddef.h>\n#include <stdio.h>\n"
        f'#include "{os.path.abspath(header_path)}"\n'
        "int main(void) {\n" + "\n".join(body) + "\nreturn 0;\n}\n"
    )
    with tempfile.TemporaryDirectory() as d:
        c, exe = os.path.join(d, "layout.c"), os.path.join(d, "layout")
        open(c, "w").write(src)
        subprocess.run([os.environ.get("CC", "cc"), "-std=c11", c, "-o", exe], check=True)
        lines = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.splitlines()
    return lines


def abi(header_path):
    header = open(header_path).read()
    text = strip_comments(header)
    out = [f"version {version(header)}"]
    for ret, name, args in sorted(declarations(header), key=lambda d: d[1]):
        out.append(f"fn {ret} {name}({', '.join(t for t, _ in args)})")
    for m in sorted(re.findall(r"typedef\s+[^;]*\(\*\s*(rmpsc_\w+)\)\s*\([^;]*\);", text)):
        decl = re.search(rf"typedef\s+[^;]*\(\*\s*{m}\)\s*\([^;]*\);", text).group(0)
        out.append("callback " + " ".join(decl.split()))
    for name, value in sorted(re.findall(r"#define (RMPSC_\w+) (\S+)", text)):
        if not name.startswith("RMPSC_VERSION_"):
            out.append(f"const {name} {value}")
    out.extend(sorted(layouts(header_path, header)))
    return "\n".join(out) + "\n"


def main():
    mode, header_path, abi_path = sys.argv[1:4]
    current = abi(header_path)
    if mode == "write":
        open(abi_path, "w").write(current)
        print(f"abi: wrote {abi_path}")
        return
    committed = open(abi_path).read() if os.path.exists(abi_path) else ""
    if current == committed:
        print("abi: unchanged")
        return
    old = dict(line.split(" ", 1) for line in committed.splitlines()[:1]) if committed else {}
    new_version = current.splitlines()[0]
    changes = sorted(set(current.splitlines()) ^ set(committed.splitlines()))
    if committed and old.get("version") == new_version.split(" ", 1)[1]:
        print("abi: the ABI changed but the version did not (bump RMPSC_VERSION_*, then `make abi`):")
        for line in changes:
            print(("+ " if line in current.splitlines() else "- ") + line)
        sys.exit(1)
    print(f"abi: {abi_path} is not current for {new_version} (run `make abi` and commit it)")
    sys.exit(1)


if __name__ == "__main__":
    main()
