"""Compares the losses and gradient norms two `motif-run smoke --fp64` runs print.

usage: compare_smoke.py A.txt B.txt TOLERANCE
Prints one line per number, "<name> within <tol>", and fails on the first
that differs by more than TOLERANCE relative to the second run's value.
"""
import re
import sys

def numbers(path):
    out = []
    for line in open(path):
        fn = line.split(":")[0]
        for key in ("loss", "norm"):
            m = re.search(key + r" ([-+0-9.eE]+)", line)
            if m:
                out.append((fn + " " + key, float(m.group(1))))
    return out

a, b, tol = numbers(sys.argv[1]), numbers(sys.argv[2]), float(sys.argv[3])
if len(a) != len(b) or not a:
    sys.exit("the runs print different numbers: %s vs %s" % (a, b))
for (name, x), (_, y) in zip(a, b):
    rel = abs(x - y) / max(1.0, abs(y))
    if rel > tol:
        sys.exit("%s differs: %.17g vs %.17g (relative %.3g > %g)" % (name, x, y, rel, tol))
    print("%s within %g (relative %.1e)" % (name, tol, rel))
