"""Airflow's REST API client, for the local stack's scripts and the results dashboard alike (no Airflow import: the
dashboard's venv has none): on Airflow 2 /api/v1 with HTTP basic auth (`airflow.api.auth.backend.basic_auth`), on
Airflow 3 /api/v2 with a token from the API server's /auth/token."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

_tokens: dict[tuple[str, str, str], str] = {}  # Airflow 3: (url, user, password) -> the API server's token


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

    def authorization(self, fresh: bool = False) -> str:
        if not self.airflow_3:
            return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        key = (self.root, self.user, self.password)
        if fresh or key not in _tokens:
            _tokens[key] = self._send("POST", self.root + "/auth/token",
                                      {"username": self.user, "password": self.password}, {})["access_token"]
        return "Bearer " + _tokens[key]

    def __call__(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            return self._send(method, self.url + path, body, {"Authorization": self.authorization()})
        except urllib.error.HTTPError as error:
            if not (self.airflow_3 and error.code == 401):
                raise
        # an expired token, or one of an API server that was started again with a new secret
        return self._send(method, self.url + path, body, {"Authorization": self.authorization(fresh=True)})
