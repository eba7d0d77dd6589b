"""Airflow's REST API client, for the local stack's scripts and the results dashboard alike (no Airflow import: the
dashboard's venv has none): on Airflow 2 /api/v1 with the web server's session (`airflow.api.auth.backend.session`),
on Airflow 3 /api/v2 with a token from the API server's /auth/token. Either login is made once and made again when
the server refuses it.

Airflow 2's login is its login form's: a password check costs the web server about 0.1 s of CPU (werkzeug's password
hash), which HTTP basic auth pays on every call, and a waiter that asks every 2 s kept a core of two busy. Where the
form is not there or the session backend is off, the client sends basic auth (`airflow.api.auth.backend.basic_auth`)."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request

_logins: dict[tuple[str, str, str], dict[str, str]] = {}  # (url, user, password) -> the headers that carry the login
CSRF_TOKEN = re.compile(rb'name="csrf_token"[^>]*value="([^"]*)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The login form's answer is a redirect: to the start page when the password was right, to the form when not."""

    def redirect_request(self, *args, **kwargs):
        return None


class AirflowAPI:
    """`api(method, path, body)`: one call, its JSON answer; an HTTP error raises urllib's HTTPError."""

    def __init__(self, url: str, user: str, password: str, airflow_3: bool):
        self.root, self.user, self.password, self.airflow_3 = url.rstrip("/"), user, password, airflow_3
        self.url = self.root + ("/api/v2/" if airflow_3 else "/api/v1/")

    def _send(self, method: str, url: str, body: dict | None, headers: dict) -> dict:
        request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json", **headers})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def _session_cookie(self) -> str | None:
        """Airflow 2: the web server's session cookie after its login form took the password, or None."""
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(self.root + "/login/", timeout=30) as page:
                token = CSRF_TOKEN.search(page.read())
                cookies = page.headers.get_all("Set-Cookie") or []
            form = {"username": self.user, "password": self.password, "csrf_token": token[1].decode() if token else ""}
            request = urllib.request.Request(self.root + "/login/", data=urllib.parse.urlencode(form).encode(),
                                             headers={"Cookie": "; ".join(c.split(";")[0] for c in cookies)})
            opener.open(request, timeout=30).close()
        except urllib.error.HTTPError as answer:  # the redirect (3xx), or no login form here
            location = answer.headers.get("Location") or ""
            session = [c.split(";")[0] for c in answer.headers.get_all("Set-Cookie") or [] if c.startswith("session=")]
            if 300 <= answer.code < 400 and "/login" not in location and session:
                return session[0]
        return None

    def _basic(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()}

    def login(self, fresh: bool = False) -> dict[str, str]:
        """The headers that carry the login, made where there is none yet or `fresh`."""
        key = (self.root, self.user, self.password)
        if fresh or key not in _logins:
            if self.airflow_3:
                token = self._send("POST", self.root + "/auth/token", {"username": self.user, "password": self.password},
                                   {})["access_token"]
                _logins[key] = {"Authorization": "Bearer " + token}
            else:
                cookie = self._session_cookie()
                _logins[key] = {"Cookie": cookie} if cookie else self._basic()
        return _logins[key]

    def __call__(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            return self._send(method, self.url + path, body, self.login())
        except urllib.error.HTTPError as error:
            if error.code not in (401, 403):
                raise
        # an expired token or session, or one of a server that was started again with a new secret or database (Airflow
        # 2 answers a session its new metadata database does not know with 403); a refusal of the user is refused again
        login = self.login(fresh=True)
        try:
            return self._send(method, self.url + path, body, login)
        except urllib.error.HTTPError as error:
            if error.code != 401 or "Cookie" not in login:
                raise
        # a session the API does not take (its session backend is off): basic auth from now on
        _logins[(self.root, self.user, self.password)] = self._basic()
        return self._send(method, self.url + path, body, self._basic())
