"""The real app for in-process tests (Flask's test client), shared by the test areas."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.web.server import KEY


def signed_in_client(app: Flask) -> FlaskClient:
    """A test client signed in to the dashboard, as a browser is: session cookie and CSRF token."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["csrf_token"] = "t"  # the token the login page would have put in its form
    client.environ_base["HTTP_X_CSRF_TOKEN"] = "t"
    assert client.post("/login", data={"key": KEY}).status_code == 302
    client.get("/brands")  # the page a browser edits from: it holds the session's CSRF token
    with client.session_transaction() as session:
        client.environ_base["HTTP_X_CSRF_TOKEN"] = session["csrf_token"]
    return client
