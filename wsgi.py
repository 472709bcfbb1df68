"""WSGI entry points: ``gunicorn wsgi:public`` and ``gunicorn wsgi:console``."""

from app import create_app

public = create_app("public")
console = create_app("console")
