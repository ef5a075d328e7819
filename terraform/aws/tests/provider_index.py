"""Provider schemas of terraform/aws, offline: aws, google and archive.

terraform/tests/provider_schema.py indexes the google provider only (its
patterns name it). `build_index` here is the same walk over a jsii assembly
of npm @cdktf/provider-NAME, for any NAME, producing the same index format, so
its `Checker` checks these files too. `check_module` checks every resource, data
source and provider block of a directory against the index of the provider its
type belongs to (the prefix before the first `_`; `archive_file` is archive's).

    python provider_index.py build NAME PATH/.jsii INDEX.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import hcl2

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
import provider_schema  # noqa: E402  (terraform/tests/provider_schema.py)


def build_index(name: str, jsii_path: Path) -> dict:
    docs_link = re.compile(rf"registry\.terraform\.io/providers/hashicorp/{name}/([0-9.]+)/docs/(resources|data-sources)/(\w+)")
    provider_link = re.compile(rf"registry\.terraform\.io/providers/hashicorp/{name}/([0-9.]+)/docs\b")
    exact = re.compile(rf"docs/(?:resources|data-sources)/\w+ ({name}_\w+)\}}")
    prefix = f"@cdktf/provider-{name}."
    assembly = json.loads(Path(jsii_path).read_text())
    types = assembly["types"]
    structs: dict[str, dict] = {}

    def short(fqn: str) -> str:
        # Struct names are kept apart per provider: the index of a module may merge several.
        return f"{name}:{fqn.removeprefix(prefix)}"

    def struct_of(t: dict):
        if "fqn" in t:
            target = types.get(t["fqn"])
            return (t["fqn"], False) if target and target.get("datatype") else None
        if "union" in t:
            found = None
            for member in t["union"]["types"]:
                r = struct_of(member)
                if r:
                    found = (r[0], found[1] if found else False) if not r[1] else r
            return found
        if "collection" in t:
            col = t["collection"]
            r = struct_of(col["elementtype"])
            if r and col["kind"] == "array":
                return r[0], True
            # a map of objects (aws has a few) is an argument: `name = { key = {...} }`
        return None

    def properties(fqn: str):
        t = types[fqn]
        props = list(t.get("properties", []))
        for parent in t.get("interfaces", []):
            if parent in types:
                props += properties(parent)
        return props

    def schema_of(fqn: str) -> dict:
        args, blocks = {}, {}
        for prop in properties(fqn):
            arg = provider_schema._tf_name(prop)
            required = not prop.get("optional", False)
            s = struct_of(prop["type"])
            if s:
                blocks[arg] = {"required": required, "multi": s[1], "struct": short(s[0])}
                if short(s[0]) not in structs:
                    structs[short(s[0])] = {}  # placeholder against cycles
                    structs[short(s[0])] = schema_of(s[0])
            else:
                args[arg] = required
        return {"args": args, "blocks": blocks}

    index = {"provider": {}, "provider_version": None, "resource": {}, "data": {}, "structs": structs}
    for t in types.values():
        if t.get("kind") != "class":
            continue
        base, summary = t.get("base"), t.get("docs", {}).get("summary", "")
        if base in ("cdktf.TerraformResource", "cdktf.TerraformDataSource"):
            m = docs_link.search(summary)
            if not m:
                continue
            kind = "resource" if base == "cdktf.TerraformResource" else "data"
            m2 = exact.search(summary)
            tf_type = m2.group(1) if m2 else f"{name}_{m.group(3)}"
            index["provider_version"] = m.group(1)
        elif base == "cdktf.TerraformProvider":
            if not provider_link.search(summary):
                continue
            kind, tf_type = "provider", name
        else:
            continue
        config = next(p for p in t["initializer"]["parameters"] if p["name"] == "config")
        index[kind][tf_type] = schema_of(config["type"]["fqn"])
    return index


# Arguments the module uses that arrived after the indexed provider release (npm
# @cdktf/provider-aws stopped at 21.22.1 = aws 6.25.0): (provider, kind, type) ->
# {argument: (required, release, where it was added)}. Each is added to the index
# by `with_later_arguments`; a test fails once the index has it itself, and
# versions.tf must require that release.
LATER_ARGUMENTS = {
    ("aws", "resource", "aws_lambda_permission"): {
        "invoked_via_function_url": (False, "6.29.0", "hashicorp/terraform-provider-aws#44858"),
    },
}


def with_later_arguments(name: str, index: dict) -> dict:
    index = json.loads(json.dumps(index))
    for (provider, kind, tf_type), args in LATER_ARGUMENTS.items():
        if provider == name:
            for arg, (required, _, _) in args.items():
                index[kind][tf_type]["args"].setdefault(arg, required)
    return index


def provider_of(tf_type: str) -> str:
    return tf_type.split("_", 1)[0]


def _split(doc: dict) -> dict[str, dict]:
    """One document per provider: its resource, data and provider blocks."""
    out: dict[str, dict] = {}
    for key in ("resource", "data"):
        for entry in doc.get(key, []):
            for raw_type, named in entry.items():
                if raw_type.startswith("__"):
                    continue
                p = provider_of(provider_schema._label(raw_type))
                out.setdefault(p, {}).setdefault(key, []).append({raw_type: named})
    for entry in doc.get("provider", []):
        for raw_name, body in entry.items():
            if raw_name.startswith("__"):
                continue
            out.setdefault(provider_schema._label(raw_name), {}).setdefault("provider", []).append({raw_name: body})
    return out


class ModuleCheck:
    def __init__(self):
        self.problems: list[provider_schema.Problem] = []
        self.checked = 0
        self.by_provider: dict[str, int] = {}


def check_documents(indexes: dict[str, dict], docs: list[tuple[str, dict]]) -> ModuleCheck:
    result = ModuleCheck()
    for file, doc in docs:
        for name, part in _split(doc).items():
            if name not in indexes:
                result.problems.append(provider_schema.Problem(file, name, f"no schema index for provider `{name}`"))
                continue
            checker = provider_schema.Checker(indexes[name])
            checker.check_document(file, part)
            for p in checker.problems:
                # the shared checker's messages name google; say which provider it was
                p.message = p.message.replace("in google provider", f"in {name} provider")
            result.problems += checker.problems
            result.checked += checker.checked
            result.by_provider[name] = result.by_provider.get(name, 0) + checker.checked
    return result


def check_text(indexes: dict[str, dict], text: str, file: str = "<text>") -> ModuleCheck:
    return check_documents(indexes, [(file, hcl2.loads(text))])


def check_module(indexes: dict[str, dict], directory: Path) -> ModuleCheck:
    docs = []
    for path in sorted(Path(directory).glob("*.tf")):
        with open(path) as f:
            docs.append((path.name, hcl2.load(f)))
    return check_documents(indexes, docs)


def main(argv):
    if len(argv) == 5 and argv[1] == "build":
        index = build_index(argv[2], Path(argv[3]))
        Path(argv[4]).write_text(json.dumps(index, separators=(",", ":"), sort_keys=True))
        print(f"provider index: {argv[2]} {index['provider_version']}, {len(index['resource'])} resources, "
              f"{len(index['data'])} data sources, {len(index['structs'])} block types")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
