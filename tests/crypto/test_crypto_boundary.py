"""The crypto package stays a pure library with typed errors and documented API."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from pathlib import Path

import pytest

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


def test_package_exports_are_the_modules_own_documented_objects() -> None:
    # What ``from crypto import ...`` offers is exactly what __init__ imports, each the very
    # object its module defines under that name: no alias, nothing shadowed or left out.
    imported: dict[str, object] = {}
    for node in ast.parse(Path(crypto.__file__).read_text("utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                imported[alias.asname or alias.name] = getattr(module, alias.name)
    assert sorted(crypto.__all__) == sorted(imported)
    for name in crypto.__all__:
        exported = getattr(crypto, name)
        assert exported is imported[name], name
        if inspect.ismodule(exported):
            assert exported.__name__ == f"crypto.{name}", name
        else:
            assert exported.__name__ == name and exported.__module__.startswith("crypto."), name
        assert exported.__doc__, name
    # Every error the library raises can be caught by a name the package exports.
    raised = {
        cls.__name__
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.CryptoError)
    }
    assert raised <= set(crypto.__all__)


def test_package_entry_points_round_trip_and_fail_closed() -> None:
    identity = crypto.X25519Identity.generate()
    sealed = crypto.encrypt_bytes("举报材料：机密".encode(), [identity.recipient])
    assert "举报材料".encode() not in sealed
    assert crypto.decrypt_bytes(sealed, [identity]).decode() == "举报材料：机密"
    with pytest.raises(crypto.NoIdentityMatch) as refused:
        crypto.decrypt_bytes(sealed, [crypto.X25519Identity.generate()])
    assert isinstance(refused.value, crypto.CryptoError)
