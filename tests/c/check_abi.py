#!/usr/bin/env python3
"""Checks the C API against the rules written at the top of ringmpsc.h.

    check_abi.py HEADER LIBRARY

Every function declared in the header must follow the naming rule, the
constructor and destructor pairing, the parameter order and the const rule;
the shared library must export exactly the header's functions (nothing that
is not rmpsc_). The inline functions of the headers it includes (the
lease's fast path) must follow the naming rule and the parameter order,
except their helpers (rmpsc__ names), which are not API.
Prints every violation and exits 1 if there is one.
"""

import os
import re
import subprocess
import sys

NOUNS = (
    "ring shared_ring shm msg_ring msg_sender msg_receiver pool fd fd_server "
    "notifier metrics mpsc event_loop spmc mpmc consumer server client "
    "log_writer log_reader numa error library lease"
).split()

# The first word after the noun: an action (the handle is non-const) ...
ACTIONS = set(
    "new free create attach open connect reconnect listen accept close reset "
    "send recv try reserve commit abort claim release advance peek append roll "
    "flush seek read wait signal serve disconnect bind alloc set merge unlink "
    "take remove consume drain register unregister stop describe lease end "
    "wake report".split()
)
# ... or a query, named by what it returns (the handle is const).
QUERIES = set(
    "len capacity available is fd slot slab max mtu next position id backlog "
    "dropped backpressure metrics snapshot processed writer hottest ring "
    "clients get avg throughput node nearest current message version".split()
)
CONSTRUCTORS = ("new", "create", "attach", "open", "connect", "listen")


def declarations(header):
    """(return type, name, [(type, name)]) of every function in the header."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", header, flags=re.S)
    out = []
    for m in re.finditer(r"([A-Za-z_][\w \*]*?)\b(rmpsc_\w+)\s*\(([^;{]*?)\)\s*;", text):
        ret, name, params = m.group(1).strip(), m.group(2), m.group(3)
        if ret.startswith("typedef"):
            continue
        args = []
        for p in params.split(","):
            p = " ".join(p.split())
            if p in ("", "void"):
                continue
            pm = re.match(r"(.*?)(\w+)$", p)
            args.append((pm.group(1).strip(), pm.group(2)))
        out.append((ret, name, args))
    return out


def inline_definitions(header):
    """(return type, name, [(type, name)]) of every static inline function."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", header, flags=re.S)
    out = []
    for m in re.finditer(r"static inline ([\w \*]*?)\b(rmpsc_(?!_)\w+)\s*\(([^)]*)\)\s*\{", text):
        args = []
        for p in m.group(3).split(","):
            p = " ".join(p.split())
            pm = re.match(r"(.*?)(\w+)$", p)
            args.append((pm.group(1).strip(), pm.group(2)))
        out.append((m.group(1).strip(), m.group(2), args))
    return out


def split_name(name):
    rest = name[len("rmpsc_"):]
    for noun in sorted(NOUNS, key=len, reverse=True):
        if rest == noun or rest.startswith(noun + "_"):
            return noun, rest[len(noun) + 1:]
    return None, rest


def check(header_path, library_path):
    header = open(header_path).read()
    decls = declarations(header)
    inline = []
    for included in re.findall(r'#include "(\w+\.h)"', header):
        path = os.path.join(os.path.dirname(header_path), included)
        inline += inline_definitions(open(path).read())
    handles = set(re.findall(r"typedef struct (rmpsc_\w+_t) rmpsc_\w+_t;", header))
    errors = []
    names = {name for _, name, _ in decls}
    for ret, name, args in decls + inline:
        noun, rest = split_name(name)
        if noun is None:
            errors.append(f"{name}: no known noun")
            continue
        word = rest.split("_")[0]
        if word not in ACTIONS and word not in QUERIES:
            errors.append(f"{name}: '{word}' is neither an action nor a query word")
            continue
        handle_type = f"rmpsc_{noun}_t"
        first = args[0][0] if args else ""
        takes_handle = handle_type in handles and first.endswith("*") and handle_type in first
        if takes_handle and word not in CONSTRUCTORS:
            is_const = first.startswith("const ")
            if word in QUERIES and not is_const:
                errors.append(f"{name}: a query takes a const handle")
            if word in ACTIONS and is_const:
                errors.append(f"{name}: an action takes a non-const handle")
        if rest in CONSTRUCTORS or any(rest.startswith(c + "_") for c in CONSTRUCTORS[1:]):
            if handle_type in handles and (not args or args[-1][1] != "out"):
                errors.append(f"{name}: a constructor's last parameter is `out`")
        # Out-parameters last; a timeout right before them.
        kinds = ["out" if n == "out" or n.startswith("out_") else
                 "timeout" if n.endswith("timeout_ns") else "in" for _, n in args]
        order = "".join({"in": "a", "timeout": "b", "out": "c"}[k] for k in kinds)
        if order != "".join(sorted(order)):
            errors.append(f"{name}: parameters not in the order inputs, timeout, outputs")
    for h in handles:
        noun = h[len("rmpsc_"):-len("_t")]
        if f"rmpsc_{noun}_free" not in names:
            errors.append(f"{h}: no rmpsc_{noun}_free")
    exported = set(
        line.split()[-1]
        for line in subprocess.run(
            ["nm", "-D", "--defined-only", library_path],
            check=True, capture_output=True, text=True,
        ).stdout.splitlines()
        if " T " in line
    )
    for sym in sorted(exported - names):
        errors.append(f"{sym}: exported but not in the header" if sym.startswith("rmpsc_")
                      else f"{sym}: exported symbol without the rmpsc_ prefix")
    for name in sorted(names - exported):
        errors.append(f"{name}: declared but not exported")
    return len(decls) + len(inline), errors


def main():
    count, errors = check(sys.argv[1], sys.argv[2])
    for e in errors:
        print(e)
    if errors:
        sys.exit(1)
    print(f"check_abi: {count} functions follow the header's rules")


if __name__ == "__main__":
    main()
