"""A small evaluator for the subset of HCL expressions this module uses.

It lets the offline tests render what Terraform would compute from the
configuration alone (the generated Hermes config, for_each keys, topic ids,
validation rules) without a terraform binary or provider. Values computed by
Google (ids, emails, URLs) are synthesised from the resource's own arguments the
way the provider builds them, e.g. a topic id is projects/{project}/topics/{name}.

Anything outside the subset raises Unsupported rather than guessing.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import hcl2
from lark import Token, Tree


class Unsupported(Exception):
    pass


def _children(node):
    """Children that carry meaning: no punctuation tokens, no comments/newlines."""
    out = []
    for c in node.children:
        if isinstance(c, Tree):
            if c.data == "new_line_or_comment":
                continue
            out.append(c)
        elif isinstance(c, Token) and c.type in ("NAME", "STRING_CHARS", "DECIMAL", "INT_LITERAL"):
            out.append(c)
    return out


def _ident(node) -> str:
    if isinstance(node, Token):
        return str(node)
    assert node.data in ("identifier", "keyword"), node.data
    return str(node.children[0])


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u":
                out.append(chr(int(s[i + 2 : i + 6], 16)))
                i += 6
                continue
        if s.startswith("$${", i) or s.startswith("%%{", i):
            out.append(s[i + 1 : i + 3])
            i += 3
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def jsonencode(v) -> str:
    """Terraform's jsonencode (Go encoding/json): compact, HTML characters escaped."""
    s = json.dumps(_plain(v), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def _plain(v):
    if isinstance(v, Instance):
        return {k: _plain(v[k]) for k in v.keys()}
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _tostr(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(int(v)) if float(v).is_integer() else repr(v)
    if isinstance(v, str):
        return v
    raise Unsupported(f"cannot interpolate {type(v).__name__}")


def _re2(pattern: str) -> str:
    """The pattern for Python's re, refused where Go's RE2 (Terraform's)
    refuses it: a repeat count above 1000 (`{1,1024}`) is an error there, so
    can(regex(...)) is false for every value."""
    for m in re.finditer(r"\{(\d+)(?:,(\d*))?\}", pattern):
        if any(g and int(g) > 1000 for g in m.groups()):
            raise ValueError(f"invalid repeat count in {m.group(0)} (RE2 allows at most 1000)")
    return pattern  # otherwise the patterns used here mean the same in RE2 and Python


def _replace(s, search, repl):
    if len(search) > 1 and search.startswith("/") and search.endswith("/"):
        return re.sub(_re2(search[1:-1]), repl.replace("$", "\\"), s)
    return s.replace(search, repl)


def _regex(pattern, s):
    m = re.search(_re2(pattern), s)
    if not m:
        raise ValueError("no match")
    return m.group(0)


def _flatten(v):
    out = []
    for x in v:
        if isinstance(x, list):
            out.extend(_flatten(x))
        else:
            out.append(x)
    return out


FUNCTIONS = {
    "jsonencode": jsonencode,
    "join": lambda sep, xs: sep.join(_tostr(x) for x in xs),
    "flatten": _flatten,
    "concat": lambda *ls: [x for l in ls for x in l],
    "sort": lambda xs: sorted(xs),
    "keys": lambda m: sorted(m.keys()),
    "values": lambda m: [m[k] for k in sorted(m.keys())],
    "length": lambda x: len(x.keys()) if isinstance(x, Instance) else len(x),
    "toset": lambda xs: sorted(set(xs)),
    "tostring": _tostr,
    "contains": lambda xs, x: x in xs,
    "coalesce": lambda *xs: next(x for x in xs if x is not None and x != ""),
    "max": lambda *xs: max(xs),
    "min": lambda *xs: min(xs),
    "merge": lambda *ms: {k: v for m in ms for k, v in m.items()},
    "distinct": lambda xs: list(dict.fromkeys(xs)),
    "split": lambda sep, s: s.split(sep),
    "jsondecode": lambda s: json.loads(s),
    "setintersection": lambda *sets: sorted(set(sets[0]).intersection(*sets[1:])),
    # lookup(map, key, default): an object without the key gives the default
    "lookup": lambda m, k, *default: m[k] if k in m else default[0],
    "lower": lambda s: s.lower(),
    "trimspace": lambda s: s.strip(),
    "replace": _replace,
    "regex": _regex,
    "startswith": lambda s, p: s.startswith(p),
    "alltrue": lambda xs: all(xs),
    "anytrue": lambda xs: any(xs),
    "floor": lambda n: math.floor(n),
    "compact": lambda xs: [x for x in xs if x not in (None, "")],
    # the verbs used here (%s, %d, %.Ng) mean the same in Terraform and Python
    "format": lambda spec, *args: spec % tuple(args),
}


class BlockView:
    """A nested block of an instance (dynamic blocks expanded), read lazily."""

    def __init__(self, module, attrs, blocks, scope):
        self.module, self.attrs, self.block_trees, self.scope = module, attrs, blocks, scope

    def has(self, name):
        return name in self.attrs

    def arg(self, name, default=KeyError):
        if name not in self.attrs:
            if default is KeyError:
                raise KeyError(name)
            return default
        return self.module.eval(self.attrs[name], self.scope)

    def blocks(self, name):
        return _nested_blocks(self.module, self.block_trees, name, self.scope)

    def block(self, name):
        found = self.blocks(name)
        if len(found) != 1:
            raise AssertionError(f"expected one `{name}` block, found {len(found)}")
        return found[0]


def _nested_blocks(module, block_trees, name, scope):
    out = []
    for b in block_trees:
        head, labels, body = Module._block_parts(b)
        attrs, inner = Module._body_attrs(body) if body is not None else ({}, [])
        if head == name:
            out.append(BlockView(module, attrs, inner, scope))
        elif head == "dynamic" and labels and labels[0] == name:
            iterator = module.eval(attrs["iterator"], scope) if "iterator" in attrs else name
            coll = module.eval(attrs["for_each"], scope)
            pairs = coll.items() if isinstance(coll, dict) else ((k, k) for k in coll)
            content = next(i for i in inner if Module._block_parts(i)[0] == "content")
            _, _, cbody = Module._block_parts(content)
            cattrs, cinner = Module._body_attrs(cbody)
            for k, v in pairs:
                s = dict(scope)
                s[iterator] = {"key": k, "value": v}
                out.append(BlockView(module, cattrs, cinner, s))
    return out


class Instance:
    """One resource or data-source instance: its arguments, evaluated lazily,
    plus the attributes the provider would compute."""

    def __init__(self, module: "Module", rtype: str, name: str, body, each=None, count=None):
        self.module, self.rtype, self.name, self.body = module, rtype, name, body
        self.scope = {}
        if each is not None:
            self.scope["each"] = {"key": each[0], "value": each[1]}
        if count is not None:
            self.scope["count"] = {"index": count}

    def keys(self):
        return [c for c in self.body if c != "__blocks__"]

    def has(self, name):
        return name in self.body

    def blocks(self, name):
        return _nested_blocks(self.module, self.body["__blocks__"], name, self.scope)

    def block(self, name):
        found = self.blocks(name)
        if len(found) != 1:
            raise AssertionError(f"expected one `{name}` block in {self.rtype}.{self.name}, found {len(found)}")
        return found[0]

    def arg(self, name):
        if name not in self.body:
            raise KeyError(f"{self.rtype}.{self.name} has no argument {name}")
        return self.module.eval(self.body[name], self.scope)

    def _project(self):
        return self.arg("project") if "project" in self.body else self.module.var("project_id")

    def __getitem__(self, attr):
        t = self.rtype
        if t == "google_pubsub_topic" and attr == "id":
            return f"projects/{self._project()}/topics/{self.arg('name')}"
        if t == "google_pubsub_subscription" and attr == "id":
            return f"projects/{self._project()}/subscriptions/{self.arg('name')}"
        if t == "google_service_account":
            email = f"{self.arg('account_id')}@{self._project()}.iam.gserviceaccount.com"
            if attr == "email":
                return email
            if attr == "member":
                return f"serviceAccount:{email}"
            if attr in ("name", "id"):
                return f"projects/{self._project()}/serviceAccounts/{email}"
        if t == "google_secret_manager_secret" and attr == "id":
            return f"projects/{self._project()}/secrets/{self.arg('secret_id')}"
        if t == "google_cloud_run_v2_service" and attr == "uri":
            return f"https://{self.arg('name')}-abc123-ew.a.run.app"
        if t == "google_project" and attr == "number":
            return "123456789012"
        if attr == "project" and "project" not in self.body:
            return self._project()
        if attr in self.body:
            return self.arg(attr)
        return f"<{t}.{self.name}.{attr}>"


class Module:
    """All .tf files of one directory, plus variable values."""

    def __init__(self, directory: Path, values: dict | None = None):
        self.directory = Path(directory)
        self.values = dict(values or {})
        self.variables = {}  # name -> body (attr -> tree)
        self.locals = {}  # name -> tree
        self.resources = {}  # "type.name" -> body
        self.data = {}
        self._local_cache = {}
        self._var_cache = {}
        for path in sorted(self.directory.glob("*.tf")):
            self._load(hcl2.parses_to_tree(path.read_text()))

    # -- loading -------------------------------------------------------------
    @staticmethod
    def _body_attrs(body_tree):
        attrs, blocks = {}, []
        for c in _children(body_tree):
            if c.data == "attribute":
                kids = _children(c)
                attrs[_ident(kids[0])] = kids[1]
            elif c.data == "block":
                blocks.append(c)
        return attrs, blocks

    @staticmethod
    def _block_parts(block):
        kids = _children(block)
        head = _ident(kids[0])
        labels = []
        body = None
        for k in kids[1:]:
            if isinstance(k, Tree) and k.data == "body":
                body = k
            elif isinstance(k, Tree) and k.data == "string":
                labels.append("".join(str(t) for p in k.children if isinstance(p, Tree) for t in p.children))
            elif isinstance(k, Tree) and k.data in ("identifier", "keyword"):
                labels.append(_ident(k))
        return head, labels, body

    def _load(self, tree):
        body = next(c for c in tree.children if isinstance(c, Tree) and c.data == "body")
        _, blocks = self._body_attrs(body)
        for b in blocks:
            head, labels, bbody = self._block_parts(b)
            attrs, inner = self._body_attrs(bbody) if bbody is not None else ({}, [])
            if head == "variable":
                self.variables[labels[0]] = attrs
            elif head == "locals":
                self.locals.update(attrs)
            elif head == "resource":
                attrs["__blocks__"] = inner
                self.resources[f"{labels[0]}.{labels[1]}"] = attrs
            elif head == "data":
                attrs["__blocks__"] = inner
                self.data[f"{labels[0]}.{labels[1]}"] = attrs

    # -- values ----------------------------------------------------------------
    def var(self, name):
        if name in self._var_cache:
            return self._var_cache[name]
        if name not in self.variables:
            raise KeyError(f"undeclared variable {name}")
        spec = self.variables[name]
        if name in self.values:
            v = self.values[name]
        elif "default" in spec:
            v = self.eval(spec["default"], {})
        else:
            raise KeyError(f"variable {name} has no value and no default")
        if "type" in spec and v is not None:
            v = apply_type_defaults(spec["type"], v, self)
        self._var_cache[name] = v
        return v

    def local(self, name):
        if name not in self._local_cache:
            if name not in self.locals:
                raise KeyError(f"undeclared local {name}")
            self._local_cache[name] = self.eval(self.locals[name], {})
        return self._local_cache[name]

    def instances(self, key, table):
        """A resource reference: one Instance, a list (count) or a map (for_each)."""
        body = table[key]
        rtype, name = key.split(".", 1)
        if "for_each" in body:
            fe = self.eval(body["for_each"], {})
            items = fe.items() if isinstance(fe, dict) else ((k, k) for k in fe)
            return {k: Instance(self, rtype, name, body, each=(k, v)) for k, v in items}
        if "count" in body:
            n = int(self.eval(body["count"], {}))
            return [Instance(self, rtype, name, body, count=i) for i in range(n)]
        return Instance(self, rtype, name, body)

    def all_instances(self, rtype=None):
        """Every instance of every resource (or of one type), for_each and count expanded."""
        out = []
        for key in self.resources:
            if rtype and key.split(".", 1)[0] != rtype:
                continue
            inst = self.instances(key, self.resources)
            if isinstance(inst, dict):
                out += list(inst.values())
            elif isinstance(inst, list):
                out += inst
            else:
                out.append(inst)
        return out

    def resource(self, address):
        """`type.name` (see instances), or one instance: `type.name["key"]`, `type.name[0]`."""
        m = re.fullmatch(r'([\w-]+\.[\w-]+)\[(?:"([^"]*)"|(\d+))\]', address)
        if not m:
            return self.instances(address, self.resources)
        found = self.instances(m.group(1), self.resources)
        return found[m.group(2)] if m.group(2) is not None else found[int(m.group(3))]

    # -- expressions -----------------------------------------------------------
    def eval(self, node, scope):
        if isinstance(node, Token):
            raise Unsupported(f"token {node!r}")
        d = node.data
        kids = _children(node)
        if d == "expr_term":
            return self.eval(kids[0], scope)
        if d == "identifier":
            return self._lookup(_ident(node), scope)
        if d == "int_lit":
            return int(str(node.children[0]))
        if d == "float_lit":
            return float(str(node.children[0]))
        if d == "literal_value":
            return {"true": True, "false": False, "null": None}[str(node.children[0])]
        if d == "string":
            out = []
            for part in kids:
                for p in part.children:
                    if isinstance(p, Tree) and p.data == "interpolation":
                        out.append(_tostr(self.eval(_children(p)[0], scope)))
                    elif isinstance(p, Tree):
                        raise Unsupported(p.data)
                    else:
                        out.append(_unescape(str(p)))
            return "".join(out)
        if d == "tuple":
            return [self.eval(k, scope) for k in kids]
        if d == "object":
            obj = {}
            for elem in kids:
                ek = _children(elem)
                keynode = _children(ek[0])[0]
                keynode = _children(keynode)[0] if keynode.data == "expr_term" else keynode
                key = _ident(keynode) if keynode.data == "identifier" else self.eval(keynode, scope)
                obj[key] = self.eval(ek[1], scope)
            return obj
        if d == "get_attr_expr_term":
            base = kids[0]
            attr = _ident(_children(kids[1])[0])
            return self._get_attr(base, attr, scope)
        if d == "index_expr_term":
            base = self.eval(kids[0], scope)
            key = self.eval(_children(kids[1])[0], scope)
            if isinstance(base, (list, tuple)):
                return base[int(key)]
            return base[key]
        if d == "function_call":
            fname = _ident(kids[0])
            args = []
            if len(kids) > 1:
                arg_nodes = kids[1]
                expand = any(isinstance(t, Token) and str(t) == "..." for t in arg_nodes.children)
                args = [self.eval(a, scope) for a in _children(arg_nodes)]
                if expand:
                    args = args[:-1] + list(args[-1])
            if fname == "can":
                raise Unsupported("can() is handled by the caller")
            if fname in ("file", "fileexists"):
                # relative to the module's directory, as path.module reads "."
                path = Path(args[0])
                path = path if path.is_absolute() else self.directory / path
                return path.is_file() if fname == "fileexists" else path.read_text()
            if fname not in FUNCTIONS:
                raise Unsupported(f"function {fname}()")
            return FUNCTIONS[fname](*args)
        if d == "conditional":
            return self.eval(kids[1] if self.eval(kids[0], scope) else kids[2], scope)
        if d == "unary_op":
            op = str(node.children[0])
            v = self.eval(kids[-1], scope)
            return (not v) if op == "!" else -v
        if d == "binary_op":
            left = kids[0]
            term = _children(kids[1])
            op = str(term[0].children[0])
            right = term[1]
            if op == "&&":
                return bool(self.eval(left, scope)) and bool(self.eval(right, scope))
            if op == "||":
                return bool(self.eval(left, scope)) or bool(self.eval(right, scope))
            a, b = self.eval(left, scope), self.eval(right, scope)
            return {
                "==": lambda: a == b, "!=": lambda: a != b, ">": lambda: a > b,
                ">=": lambda: a >= b, "<": lambda: a < b, "<=": lambda: a <= b,
                "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                "/": lambda: a / b, "%": lambda: a % b,
            }[op]()
        if d in ("for_tuple_expr", "for_object_expr"):
            return self._for(node, kids, scope)
        if d in ("heredoc_template", "heredoc_template_trim"):
            return _heredoc(str(node.children[0]), d.endswith("_trim"))
        raise Unsupported(d)

    def eval_condition(self, node, scope):
        """Like eval, but understands can(...) (true when the argument evaluates)."""
        return self._eval_can(node, scope)

    def _eval_can(self, node, scope):
        # Re-dispatch function calls named can() anywhere in the tree.
        module = self

        def patched_eval(n, s, _orig=Module.eval):
            if isinstance(n, Tree) and n.data == "function_call" and _ident(_children(n)[0]) == "can":
                try:
                    _orig(module, _children(_children(n)[1])[0], s)
                    return True
                except (ValueError, KeyError, IndexError, TypeError, StopIteration):
                    return False
            return _orig(module, n, s)

        self.eval = patched_eval  # type: ignore[method-assign]
        try:
            return patched_eval(node, scope)
        finally:
            del self.eval

    def _for(self, node, kids, scope):
        intro = _children(kids[0])
        names = [_ident(k) for k in intro if isinstance(k, Tree) and k.data == "identifier"]
        coll = self.eval(intro[-1], scope)
        if isinstance(coll, dict):
            pairs = list(coll.items())
        elif isinstance(coll, Instance):
            pairs = [(k, coll[k]) for k in coll.keys()]
        else:
            pairs = list(enumerate(coll))
        rest = kids[1:]
        cond = rest[-1] if rest and rest[-1].data == "for_cond" else None
        if cond is not None:
            rest = rest[:-1]
        result = {} if node.data == "for_object_expr" else []
        for k, v in pairs:
            s = dict(scope)
            if len(names) == 2:
                s[names[0]], s[names[1]] = k, v
            else:
                s[names[0]] = v
            if cond is not None and not self.eval(_children(cond)[0], s):
                continue
            if node.data == "for_object_expr":
                result[self.eval(rest[0], s)] = self.eval(rest[1], s)
            else:
                result.append(self.eval(rest[0], s))
        return result

    def _lookup(self, name, scope):
        if name in scope:
            return scope[name]
        return _Ref(name)

    def _get_attr(self, base_node, attr, scope):
        base = self.eval(base_node, scope)
        if isinstance(base, _Ref):
            if base.name == "var":
                return self.var(attr)
            if base.name == "local":
                return self.local(attr)
            if base.name == "data":
                return _Ref("data", attr)
            if base.name == "path" and attr == "module":
                return "."
            if base.prefix == "data":
                return self.instances(f"{base.name}.{attr}", self.data)
            key = f"{base.name}.{attr}"
            if key in self.resources:
                return self.instances(key, self.resources)
            raise KeyError(f"unknown reference {key}")
        if isinstance(base, Instance):
            return base[attr]
        if isinstance(base, dict):
            return base[attr]
        raise Unsupported(f"attribute {attr} of {type(base).__name__}")


def _heredoc(text: str, trim: bool) -> str:
    """A heredoc without interpolation (<<EOT / <<-EOT)."""
    lines = text.split("\n")[1:-1]  # drop the <<EOT line and the closing marker
    body = "\n".join(lines)
    if "${" in body.replace("$${", "") or "%{" in body.replace("%%{", ""):
        raise Unsupported("heredoc with interpolation")
    if trim:
        indents = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip()]
        cut = min(indents) if indents else 0
        lines = [l[cut:] for l in lines]
    return "\n".join(lines) + "\n"


class _Ref:
    def __init__(self, name, sub=None):
        self.prefix, self.name = (name, sub) if sub else (None, name)


def apply_type_defaults(type_node, value, module):
    """Fill optional(type, default) attributes of object types, as Terraform does."""
    node = type_node
    while isinstance(node, Tree) and node.data == "expr_term":
        node = _children(node)[0]
    if not (isinstance(node, Tree) and node.data == "function_call"):
        return value
    kids = _children(node)
    fname = _ident(kids[0])
    args = _children(kids[1]) if len(kids) > 1 else []
    if fname in ("map",) and isinstance(value, dict):
        return {k: apply_type_defaults(args[0], v, module) for k, v in value.items()}
    if fname in ("list", "set") and isinstance(value, list):
        return [apply_type_defaults(args[0], v, module) for v in value]
    if fname == "object" and isinstance(value, dict):
        spec = _children(args[0])[0] if args[0].data == "expr_term" else args[0]
        out = dict(value)
        for elem in _children(spec):
            ek = _children(elem)
            keynode = _children(ek[0])[0]
            keynode = _children(keynode)[0] if keynode.data == "expr_term" else keynode
            key = _ident(keynode)
            tnode = ek[1]
            inner = _children(tnode)[0] if tnode.data == "expr_term" else tnode
            if isinstance(inner, Tree) and inner.data == "function_call" and _ident(_children(inner)[0]) == "optional":
                oargs = _children(_children(inner)[1])
                if key not in out or out[key] is None:
                    out[key] = module.eval(oargs[1], {}) if len(oargs) > 1 else None
                if out[key] is not None:
                    out[key] = apply_type_defaults(oargs[0], out[key], module)
            elif key in out:
                out[key] = apply_type_defaults(tnode, out[key], module)
        return out
    return value


def load_tfvars(path: Path, module: Module) -> dict:
    """Evaluate a .tfvars file (literal values only)."""
    tree = hcl2.parses_to_tree(Path(path).read_text())
    body = next(c for c in tree.children if isinstance(c, Tree) and c.data == "body")
    attrs, _ = Module._body_attrs(body)
    return {k: module.eval(v, {}) for k, v in attrs.items()}


def variable_validations(module: Module, name: str):
    """Evaluate each validation block of variable `name`: [(ok, error_message)]."""
    # validation blocks are nested blocks of the variable block: re-read them.
    results = []
    for path in sorted(module.directory.glob("*.tf")):
        tree = hcl2.parses_to_tree(path.read_text())
        body = next(c for c in tree.children if isinstance(c, Tree) and c.data == "body")
        _, blocks = Module._body_attrs(body)
        for b in blocks:
            head, labels, bbody = Module._block_parts(b)
            if head != "variable" or labels[0] != name:
                continue
            _, inner = Module._body_attrs(bbody)
            for v in inner:
                vh, _, vbody = Module._block_parts(v)
                if vh != "validation":
                    continue
                vattrs, _ = Module._body_attrs(vbody)
                ok = module.eval_condition(vattrs["condition"], {})
                msg = module.eval(vattrs["error_message"], {})
                results.append((bool(ok), msg))
    return results
