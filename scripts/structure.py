#!/usr/bin/env python3
"""The house rules a reviewer would otherwise count by hand (run by .ci/run):

- no Rust file of the tree is over 600 lines;
- inside the `tba` crate (`src/`), no two files import each other in a cycle (`crate::a::b`,
  `super::x`, and a module's own children it names), so that each adapter and layer can be read on
  its own. (`--all` checks the other crates too: `projections` still has two cycles, a projector's
  default build and the "as known at" history's checkpoint.)

Exits 1 naming every file too long and every cycle, with the imports that close it."""

import os
import re
import sys

MAX_LINES = 600
CRATES = ["src", "events/src", "projections/src"]
TREES = CRATES + ["tests", "benches"]
CHECKED = CRATES if "--all" in sys.argv else ["src"]
IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def rust_files(root):
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith(".rs"):
                yield os.path.join(folder, name)


def modules(root):
    """Each file of a crate by its module path (`http/caller.rs` → ("http", "caller"))."""
    found = {}
    for path in rust_files(root):
        parts = path[len(root) + 1 : -3].split("/")
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        found[tuple(parts)] = path
    return found


def without_tests(text):
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def names_in(braces):
    """The top-level paths of a `{a::b, c::{d, e}, f}` group."""
    depth, current, names = 0, "", []
    for char in braces:
        depth += char == "{"
        depth -= char == "}"
        if char == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += char
    names.append(current)
    return [n.strip() for n in names if n.strip()]


def imports(files):
    def resolve(path):
        for n in range(len(path), 0, -1):
            if tuple(path[:n]) in files:
                return tuple(path[:n])
        return None

    edges = {}
    for module, path in files.items():
        text = without_tests(open(path, encoding="utf-8").read())
        deps = set()
        for match in re.finditer(r"crate::((?:\w+::)*)(\{[^;]*?\}|\w+)", text):
            prefix = [p for p in match.group(1).split("::") if p]
            tail = match.group(2)
            paths = names_in(tail[1:-1]) if tail.startswith("{") else [tail]
            for name in paths:
                steps = [s.strip() for s in name.split("{")[0].split("::") if IDENT.match(s.strip())]
                target = resolve(prefix + steps)
                if target:
                    deps.add(target)
        parent = list(module[:-1])
        for match in re.finditer(r"super::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", text):
            target = resolve(parent + match.group(1).split("::"))
            if target:
                deps.add(target)
        for child in files:
            if len(child) == len(module) + 1 and child[: len(module)] == module:
                if re.search(r"(?<![\w:])(self::)?" + child[-1] + r"::", text):
                    deps.add(child)
        deps.discard(module)
        edges[module] = deps
    return edges


def cycles(edges):
    """The strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main():
    problems = []
    for tree in TREES:
        for path in rust_files(tree):
            lines = sum(1 for _ in open(path, encoding="utf-8"))
            if lines > MAX_LINES:
                problems.append(f"{path}: {lines} lines (at most {MAX_LINES}: cut it at its seams)")
    for root in CHECKED:
        files = modules(root)
        edges = imports(files)
        name = lambda m: files[m]
        for component in cycles(edges):
            members = set(component)
            closing = [f"{name(a)} -> {name(b)}" for a in component for b in sorted(edges[a]) if b in members]
            problems.append("import cycle: " + "; ".join(closing))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
