"""Lets cloudbox (PyPI, declares Python >= 3.14) run on older Pythons (3.11+).

cloudbox's modules use annotations that only work with postponed evaluation
(PEP 563 / 649), e.g. `def keys(self) -> list[str]` inside a class that also
defines a method named `list`. This import hook compiles every module of the
`cloudbox` package -- and only that package -- from its source with the
`from __future__ import annotations` flag. It overrides the loader's
`get_code`, so the bytecode pip cached at install time (compiled without the
flag) is never used.

Put this directory on PYTHONPATH (scripts/cloudbox/run-cloudbox does it).
Python imports `sitecustomize` at start-up; nothing else here runs.
"""

import __future__
import importlib.abc
import importlib.machinery
import sys

_PACKAGE = "cloudbox"
_FLAGS = __future__.annotations.compiler_flag


class _PostponedAnnotationsLoader(importlib.machinery.SourceFileLoader):
    """A source loader that always compiles with postponed annotations."""

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        source = self.get_data(path)
        return compile(source, path, "exec", flags=_FLAGS, dont_inherit=True)


class _CloudboxFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _PACKAGE and not fullname.startswith(_PACKAGE + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _PostponedAnnotationsLoader(fullname, spec.origin)
        return spec


if not any(isinstance(f, _CloudboxFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _CloudboxFinder())
