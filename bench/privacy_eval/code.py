"""Credentials in code and configuration, in the syntaxes people paste:
Python, JavaScript, Go, Java, YAML, TOML, JSON, .env, INI, shell ``export``,
Dockerfile, Kubernetes secrets, CLI flags, curl, connection strings, HTTP
headers and PEM keys. With ``negative=True`` the same files name
credentials without holding one (environment look-ups, placeholders)."""

# Templates are one file per line: easier to read than wrapped.
# ruff: noqa: E501

from __future__ import annotations

import base64
import random
import re
from typing import Protocol

from bench.privacy_eval import values


class Writer(Protocol):
    def add(self, text: str) -> object: ...
    def value(self, value: str, category: str, type_: str) -> object: ...


PLACEHOLDERS = (
    "<your-api-key>",
    "YOUR_API_KEY_HERE",
    "********",
    "${API_KEY}",
    "{{ secrets.API_TOKEN }}",
    "REDACTED",
    "xxxxxxxxxxxxxxxx",
    "<token>",
    "$(cat /run/secrets/db_password)",
    "<password>",
    "%(DB_PASSWORD)s",
    "{{ .Values.apiKey }}",
    "TODO",
    "...",
)

_SURROUND = (
    ("host", '"db.internal"'),
    ("port", "5432"),
    ("region", '"eu-west-1"'),
    ("timeout", "30"),
    ("debug", "false"),
    ("base_url", '"https://api.example.com/v2"'),
    ("retries", "3"),
    ("bucket", '"build-artifacts"'),
    ("log_level", '"info"'),
    ("workers", "4"),
)


def _camel(name: str) -> str:
    parts = [p for p in re.split(r"[_.\-]+", name) if p]
    if not parts:
        return name
    if not any(c.islower() for c in name) or "_" in name:
        parts = [p.lower() for p in parts]
        return parts[0] + "".join(p.capitalize() for p in parts[1:])
    return name


def _upper(name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", snake).upper()


# syntax: (template, name style). "{v}" is the credential; {n} its variable name.
ASSIGNMENTS = {
    "python": ('{n} = "{v}"\n', _upper),
    "python_call": ('client = Client({n}="{v}")\n', lambda n: _upper(n).lower()),
    "javascript": ("const {n} = '{v}';\n", _camel),
    "javascript_obj": ('  {n}: "{v}",\n', _camel),
    "go": ('{n} := "{v}"\n', _camel),
    "java": ('private static final String {n} = "{v}";\n', _upper),
    "yaml": ("{n}: {v}\n", lambda n: _upper(n).lower()),
    "yaml_quoted": ('  {n}: "{v}"\n', _camel),
    "toml": ('{n} = "{v}"\n', lambda n: _upper(n).lower()),
    "json": ('  "{n}": "{v}",\n', _camel),
    "dotenv": ("{n}={v}\n", _upper),
    "ini": ("{n} = {v}\n", lambda n: _upper(n).lower()),
    "shell": ("export {n}={v}\n", _upper),
    "shell_quoted": ('export {n}="{v}"\n', _upper),
    "dockerfile": ("ENV {n}={v}\n", _upper),
    "dockerfile_arg": ("ARG {n}={v}\n", _upper),
    "cli_flag": (
        "mytool deploy --{n} {v} --region eu-west-1\n",
        lambda n: _upper(n).lower().replace("_", "-"),
    ),
    "cli_flag_eq": ("./run.sh --{n}={v}\n", lambda n: _upper(n).lower().replace("_", "-")),
    "header": ("X-{n}: {v}\n", lambda n: "-".join(p.capitalize() for p in _upper(n).split("_"))),
}
_HEADERS = {
    "python": "import os\n\n",
    "javascript": "// config.js\n",
    "go": "package config\n\nfunc init() {\n",
    "java": "public class Config {\n",
    "yaml": "service:\n",
    "toml": "[service]\n",
    "json": "{\n",
    "dotenv": "# .env\n",
    "ini": "[default]\n",
    "shell": "#!/bin/sh\n",
    "dockerfile": "FROM python:3.12-slim\n",
}
_FOOTERS = {"go": "}\n", "java": "}\n", "json": '  "enabled": true\n}\n'}
_CHAT = (
    "Why does this fail with 401?\n\n```\n{code}```\n",
    "Here is my config, can you spot the problem?\n\n{code}",
    "{code}\nthe deploy still can't authenticate, any idea?",
    "{code}",
    "{code}",
)


def _family(syntax: str) -> str:
    return syntax.split("_")[0]


def write(doc: Writer, rng: random.Random, *, negative: bool) -> str:
    """Write one file (maybe inside a question); return the text's kind."""
    shape = rng.choice(
        ("assignment",) * 6 + ("connection", "basic_auth", "bearer", "pem", "k8s", "prose")
    )
    before, after = rng.choice(_CHAT).split("{code}")
    doc.add(before)
    kind = {
        "assignment": _assignment,
        "connection": _connection,
        "basic_auth": _basic_auth,
        "bearer": _bearer,
        "pem": _pem,
        "k8s": _k8s,
        "prose": _prose,
    }[shape](doc, rng, negative)
    doc.add(after)
    return ("negative:" if negative else "") + kind


def _secret(rng: random.Random) -> tuple[str, str, str]:
    if rng.random() < 0.65:
        return values.vendor_token(rng)
    value, type_ = values.generic_secret(rng)
    return rng.choice(values.GENERIC_NAMES), value, type_


def _put(doc: Writer, rng: random.Random, negative: bool, value: str, type_: str) -> None:
    if negative:
        doc.add(rng.choice(PLACEHOLDERS))
    else:
        doc.value(value, "credential", type_)


def _template(doc: Writer, template: str, fill: dict[str, object]) -> None:
    """``fill`` maps a {field} to plain text or to a callable that writes it."""
    for piece in re.split(r"(\{\w+\})", template):
        key = piece[1:-1] if piece.startswith("{") and piece.endswith("}") else None
        if key in fill:
            item = fill[key]
            if callable(item):
                item()
            else:
                doc.add(str(item))
        else:
            doc.add(piece)


def _assignment(doc: Writer, rng: random.Random, negative: bool) -> str:
    syntax = rng.choice(sorted(ASSIGNMENTS))
    template, style = ASSIGNMENTS[syntax]
    family = _family(syntax)
    doc.add(_HEADERS.get(family, ""))
    indent = "    " if family in ("go", "java", "yaml") and not template.startswith(" ") else ""
    surround = rng.sample(_SURROUND, 2)
    for key, setting in surround[:1]:
        doc.add(_plain_line(family, key, setting, indent))
    name, value, type_ = _secret(rng)
    doc.add(indent)
    _template(
        doc,
        template,
        {"n": style(name), "v": lambda: _put(doc, rng, negative, value, type_)},
    )
    for key, setting in surround[1:]:
        doc.add(_plain_line(family, key, setting, indent))
    doc.add(_FOOTERS.get(family, ""))
    return f"code:{syntax}"


def _plain_line(family: str, key: str, setting: str, indent: str) -> str:
    bare = setting.strip('"')
    if family in ("yaml",):
        return f"{indent}{key}: {bare}\n"
    if family in ("dotenv", "shell", "dockerfile"):
        prefix = {"shell": "export ", "dockerfile": "ENV "}.get(family, "")
        return f"{prefix}{key.upper()}={bare}\n"
    if family == "json":
        return f'  "{key}": {setting},\n'
    if family in ("javascript", "go", "java", "cli", "header"):
        return ""
    return f"{indent}{key} = {setting}\n"


_USERS = ("admin", "app", "deploy", "svc_backend", "postgres", "root", "etl", "reporting")
_HOSTS = ("db.internal", "pg-prod.cluster.local", "cache.svc", "mq.internal")


def _connection(doc: Writer, rng: random.Random, negative: bool) -> str:
    password, type_ = values.generic_secret(rng)
    password = re.sub(r"[@/:?#%]", "x", password)  # URL-safe as people write them
    user, host = rng.choice(_USERS), rng.choice(_HOSTS)
    template = rng.choice(
        (
            "DATABASE_URL=postgresql://{user}:{v}@{host}:5432/app\n",
            'engine = create_engine("mysql+pymysql://{user}:{v}@{host}/shop")\n',
            'MONGO_URI = "mongodb+srv://{user}:{v}@cluster0.ab1cd.mongodb.net/prod"\n',
            "REDIS_URL=redis://:{v}@{host}:6379/0\n",
            "broker_url: amqp://{user}:{v}@{host}:5672//\n",
            '"ConnectionStrings": {"Main": "Server=tcp:{host},1433;Database=app;User ID={user};Password={v};Encrypt=True;"}\n',
        )
    )
    if rng.random() < 0.2:
        password = values.VENDOR_TOKENS["azure_storage_key"][1](rng)  # type: ignore[operator]
        type_ = "credential:azure_storage_key"
        template = (
            "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;"
            "AccountName=acmedata;AccountKey={v};EndpointSuffix=core.windows.net\n"
        )
    _template(
        doc,
        template,
        {"user": user, "host": host, "v": lambda: _put(doc, rng, negative, password, type_)},
    )
    return "code:connection_string"


def _basic_auth(doc: Writer, rng: random.Random, negative: bool) -> str:
    password, _ = values.generic_secret(rng)
    user = rng.choice(_USERS)
    if rng.random() < 0.5:
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        before, after = rng.choice(
            (("Authorization: Basic ", "\n"), ('headers = {"Authorization": "Basic ', '"}\n'))
        )
        doc.add(before)
        _put(doc, rng, negative, encoded, "credential:basic_auth_header")
        doc.add(after)
    else:
        doc.add(f"curl -u {user}:")
        _put(doc, rng, negative, password, "credential:curl_user_password")
        doc.add(" https://api.example.com/v1/reports\n")
    return "code:basic_auth"


def _bearer(doc: Writer, rng: random.Random, negative: bool) -> str:
    _, token, type_ = _secret(rng)
    template = rng.choice(
        (
            'curl -H "Authorization: Bearer {v}" https://api.example.com/v1/me\n',
            "GET /v1/orders HTTP/1.1\nHost: api.example.com\nAuthorization: Bearer {v}\nAccept: application/json\n",
            "fetch(url, { headers: { Authorization: `Bearer {v}` } })\n",
            "curl https://api.example.com/data?api_key={v}&format=json\n",
        )
    )
    _template(doc, template, {"v": lambda: _put(doc, rng, negative, token, type_)})
    return "code:bearer"


def _pem(doc: Writer, rng: random.Random, negative: bool) -> str:
    kind = rng.choice(values.PEM_KINDS)
    key = values._pem(rng, kind)
    if negative:
        doc.add("ssh_key_path = ~/.ssh/id_ed25519\n# the private key is mounted from the vault\n")
        return "code:pem"
    if rng.random() < 0.3:  # a service-account JSON holds it with escaped newlines
        doc.add('{\n  "type": "service_account",\n  "project_id": "acme-prod",\n  "private_key": "')
        doc.value(key.replace("\n", "\\n"), "credential", "credential:pem_in_json")
        doc.add('\\n",\n  "client_id": "1049238475"\n}\n')
    else:
        doc.value(key, "credential", f"credential:pem_{kind.split()[0].lower()}")
        doc.add("\n")
    return "code:pem"


def _k8s(doc: Writer, rng: random.Random, negative: bool) -> str:
    name, value, type_ = _secret(rng)
    key = _upper(name).lower().replace("_", "-")
    doc.add("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\ntype: Opaque\n")
    if rng.random() < 0.5:
        doc.add(f"stringData:\n  {key}: ")
        _put(doc, rng, negative, value, type_)
    else:
        doc.add(f"data:\n  {key}: ")
        encoded = base64.b64encode(value.encode()).decode()
        _put(doc, rng, negative, encoded, type_ + ":base64")
    doc.add("\n")
    return "code:k8s_secret"


def _prose(doc: Writer, rng: random.Random, negative: bool) -> str:
    name, value, type_ = _secret(rng)
    vendor = type_.split(":")[-1].split("_")[0]
    template = rng.choice(
        (
            "I rotated the {vendor} key, the new one is {v} - update the pipeline please.",
            "my {vendor} token {v} stopped working after the upgrade, any idea why?",
            "For the demo use {n}={v} and delete it afterwards.",
            "The password for the staging box is {v} (same as last month).",
        )
    )
    _template(
        doc,
        template,
        {"vendor": vendor, "n": _upper(name), "v": lambda: _put(doc, rng, negative, value, type_)},
    )
    return "code:prose"
