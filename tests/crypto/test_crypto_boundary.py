"""The crypto package stays a pure library with typed errors and documented API."""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import crypto
from crypto import errors

PACKAGE = Path(crypto.__file__).resolve().parent
ALLOWED_THIRD_PARTY = {"cryptography", "shamir_mnemonic"}
FORBIDDEN = {"flask", "sqlalchemy", "app", "flask_wtf", "flask_babel", "flask_limiter"}


def _imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside the package
                continue
            roots.add((node.module or "").split(".")[0])
    return roots


def test_only_stdlib_cryptography_and_shamir_are_imported() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 10
    for module in modules:
        roots = _imported_roots(ast.parse(module.read_text("utf-8")))
        assert not roots & FORBIDDEN, module.name
        outside = roots - {"crypto", "__future__"} - ALLOWED_THIRD_PARTY
        assert outside <= set(sys.stdlib_module_names), (module.name, outside)


def test_error_classes() -> None:
    names = [
        "ArmorError", "HeaderError", "NoIdentityMatch", "HmacError", "PayloadError",
        "BadPassphrase", "ShareError", "ProofError", "ReceiptCodeError",
    ]  # fmt: skip
    for name in names:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.CryptoError), name
    assert issubclass(errors.ReceiptCodeError, ValueError)


def test_public_functions_have_docstrings_and_type_hints() -> None:
    for module in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(module.read_text("utf-8"))
        top = list(tree.body)
        for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
            if not cls.name.startswith("_"):
                top += cls.body
        for node in top:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("_"):
                continue
            where = f"{module.name}:{node.lineno} {node.name}"
            assert ast.get_docstring(node) or _is_protocol_or_dunder(node), where
            assert node.returns is not None, where
            for arg in node.args.args + node.args.kwonlyargs:
                if arg.arg not in ("self", "cls"):
                    assert arg.annotation is not None, where


def _is_protocol_or_dunder(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return node.name in {"readable", "writable"}


def test_package_exports_resolve() -> None:
    for name in crypto.__all__:
        assert getattr(crypto, name) is not None
        obj = getattr(crypto, name)
        if inspect.isfunction(obj):
            assert obj.__doc__, name
