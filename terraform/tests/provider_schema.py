"""The google provider's configuration schema, offline.

`build_index` turns the jsii assembly of npm @cdktf/provider-google (generated
from the google provider's own schema) into a compact JSON index:

    {"provider_version": "6.50.0",
     "resource": {type: schema}, "data": {type: schema}, "provider": {"google": schema},
     "structs": {fqn: schema}}
    schema = {"args": {name: required}, "blocks": {name: {"required", "multi", "struct"}}}

`check_module` then checks every resource, data source and provider block of a
directory of .tf files against it: types, argument names, nested block names (at
any depth, dynamic blocks included), block repetition and required arguments and
blocks. Value types, allowed values and conflicting arguments are not checked.

    python provider_schema.py build PATH/.jsii INDEX.json
    python provider_schema.py check INDEX.json TERRAFORM_DIR
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import hcl2

_DOCS_LINK = re.compile(r"registry\.terraform\.io/providers/hashicorp/google/([0-9.]+)/docs/(resources|data-sources)/(\w+)")
_PROVIDER_LINK = re.compile(r"registry\.terraform\.io/providers/hashicorp/google/([0-9.]+)/docs\b")
_ANCHOR = re.compile(r"Docs at Terraform Registry: \{@link \S+#([a-z0-9_]+) ")

TOP_LEVEL_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
PROVIDER_META = {"alias", "version"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _tf_name(prop: dict) -> str:
    docs = prop.get("docs", {})
    texts = [docs.get("remarks", ""), docs.get("summary", "")]
    texts += [v for v in docs.get("custom", {}).values() if isinstance(v, str)]
    for text in texts:
        m = _ANCHOR.search(text or "")
        if m:
            return m.group(1)
    return _snake(prop["name"])


def _short(fqn: str) -> str:
    return fqn.removeprefix("@cdktf/provider-google.")


def build_index(jsii_path: Path) -> dict:
    assembly = json.loads(Path(jsii_path).read_text())
    types = assembly["types"]
    structs: dict[str, dict] = {}

    def struct_of(t: dict):
        """(struct fqn, repeatable) when type `t` is a block, else None."""
        if "fqn" in t:
            target = types.get(t["fqn"])
            if target and target.get("datatype"):
                return t["fqn"], False
            return None
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
            if r:
                raise ValueError(f"map of struct {r[0]}")
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
            name = _tf_name(prop)
            required = not prop.get("optional", False)
            s = struct_of(prop["type"])
            if s:
                blocks[name] = {"required": required, "multi": s[1], "struct": _short(s[0])}
                if _short(s[0]) not in structs:
                    structs[_short(s[0])] = {}  # placeholder against cycles
                    structs[_short(s[0])] = schema_of(s[0])
            else:
                args[name] = required
        return {"args": args, "blocks": blocks}

    index = {"provider_version": None, "resource": {}, "data": {}, "provider": {}, "structs": structs}
    for t in types.values():
        if t.get("kind") != "class":
            continue
        base = t.get("base")
        summary = t.get("docs", {}).get("summary", "")
        if base in ("cdktf.TerraformResource", "cdktf.TerraformDataSource"):
            m = _DOCS_LINK.search(summary)
            if not m:
                continue
            kind = "resource" if base == "cdktf.TerraformResource" else "data"
            tf_type = "google_" + m.group(3) if not m.group(3).startswith("google_") else m.group(3)
            # The link text names the type exactly: prefer it.
            m2 = re.search(r"docs/(?:resources|data-sources)/\w+ (google_\w+)\}", summary)
            if m2:
                tf_type = m2.group(1)
            index["provider_version"] = m.group(1)
        elif base == "cdktf.TerraformProvider":
            m = _PROVIDER_LINK.search(summary)
            if not m:
                continue
            kind, tf_type = "provider", "google"
        else:
            continue
        params = t["initializer"]["parameters"]
        config = next(p for p in params if p["name"] == "config")
        index[kind][tf_type] = schema_of(config["type"]["fqn"])
    return index


# ---------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------


@dataclass
class Problem:
    file: str
    where: str
    message: str

    def __str__(self):
        return f"{self.file}: {self.where}: {self.message}"


def _label(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] == '"' else s


def _is_block_list(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) and x.get("__is_block__") for x in v)


class Checker:
    def __init__(self, index: dict):
        self.index = index
        self.problems: list[Problem] = []
        self.checked = 0  # resource/data/provider blocks checked

    def _schema(self, struct_fqn):
        return self.index["structs"][struct_fqn]

    def check_body(self, file, where, body: dict, schema: dict, top_level: bool, meta=TOP_LEVEL_META):
        args, blocks = schema["args"], schema["blocks"]
        seen_blocks: dict[str, int] = {}
        for key, value in body.items():
            if key.startswith("__") and key.endswith("__"):
                continue
            if top_level and key in meta:
                continue
            if key == "dynamic" and isinstance(value, list) and all(isinstance(x, dict) for x in value):
                for dyn in value:
                    for raw_label, dyn_body in dyn.items():
                        if raw_label.startswith("__"):
                            continue
                        name = _label(raw_label)
                        path = f"{where}.dynamic[{name}]"
                        if name not in blocks:
                            self._unknown_block(file, path, name, args)
                            continue
                        seen_blocks[name] = seen_blocks.get(name, 0) + 1
                        for content in dyn_body.get("content", []):
                            self.check_body(file, f"{where}.{name}", content, self._schema(blocks[name]["struct"]), False)
                        if "content" not in dyn_body:
                            self.problems.append(Problem(file, path, "dynamic block without content"))
                continue
            if _is_block_list(value):
                if key not in blocks:
                    self._unknown_block(file, f"{where}.{key}", key, args)
                    continue
                seen_blocks[key] = seen_blocks.get(key, 0) + len(value)
                if len(value) > 1 and not blocks[key]["multi"]:
                    self.problems.append(Problem(file, f"{where}.{key}", f"block `{key}` may appear at most once"))
                for i, item in enumerate(value):
                    self.check_body(file, f"{where}.{key}", item, self._schema(blocks[key]["struct"]), False)
                continue
            if key not in args:
                if key in blocks:
                    self.problems.append(Problem(file, f"{where}.{key}", f"`{key}` is a block, not an argument: write `{key} {{ ... }}`"))
                else:
                    self.problems.append(Problem(file, f"{where}.{key}", f"unknown argument `{key}`" + _suggest(key, args)))
        for name, required in args.items():
            if required and name not in body:
                self.problems.append(Problem(file, where, f"required argument `{name}` is missing"))
        for name, b in blocks.items():
            if b["required"] and name not in seen_blocks:
                self.problems.append(Problem(file, where, f"required block `{name}` is missing"))

    def _unknown_block(self, file, where, name, args):
        if name in args:
            self.problems.append(Problem(file, where, f"`{name}` is an argument, not a block: write `{name} = ...`"))
        else:
            self.problems.append(Problem(file, where, f"unknown block `{name}`"))

    def check_document(self, file: str, doc: dict):
        for kind, key in (("resource", "resource"), ("data", "data")):
            for entry in doc.get(key, []):
                for raw_type, named in entry.items():
                    if raw_type.startswith("__"):
                        continue
                    rtype = _label(raw_type)
                    for raw_name, body in named.items():
                        if raw_name.startswith("__"):
                            continue
                        where = f"{'data.' if kind == 'data' else ''}{rtype}.{_label(raw_name)}"
                        self.checked += 1
                        schema = self.index[kind].get(rtype)
                        if schema is None:
                            what = "resource" if kind == "resource" else "data source"
                            self.problems.append(Problem(file, where, f"unknown {what} type `{rtype}` in google provider {self.index['provider_version']}"))
                            continue
                        self.check_body(file, where, body, schema, True)
        for entry in doc.get("provider", []):
            for raw_name, body in entry.items():
                if raw_name.startswith("__"):
                    continue
                name = _label(raw_name)
                self.checked += 1
                schema = self.index["provider"].get(name)
                if schema is None:
                    self.problems.append(Problem(file, f"provider.{name}", "unknown provider"))
                    continue
                self.check_body(file, f"provider.{name}", body, schema, True, meta=PROVIDER_META)


def _suggest(key, args):
    import difflib

    close = difflib.get_close_matches(key, list(args), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def check_text(index: dict, text: str, file: str = "<text>") -> Checker:
    checker = Checker(index)
    checker.check_document(file, hcl2.loads(text))
    return checker


def check_module(index: dict, directory: Path) -> Checker:
    checker = Checker(index)
    for path in sorted(Path(directory).glob("*.tf")):
        with open(path) as f:
            checker.check_document(path.name, hcl2.load(f))
    return checker


def main(argv):
    if len(argv) == 4 and argv[1] == "build":
        index = build_index(Path(argv[2]))
        Path(argv[3]).write_text(json.dumps(index, separators=(",", ":"), sort_keys=True))
        print(f"provider index: google {index['provider_version']}, {len(index['resource'])} resources, "
              f"{len(index['data'])} data sources, {len(index['structs'])} block types")
        return 0
    if len(argv) == 4 and argv[1] == "check":
        index = json.loads(Path(argv[2]).read_text())
        checker = check_module(index, Path(argv[3]))
        for p in checker.problems:
            print(p)
        print(f"{checker.checked} blocks checked against google provider {index['provider_version']}: "
              f"{len(checker.problems)} problem(s)")
        return 1 if checker.problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
