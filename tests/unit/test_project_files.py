"""Consistency checks for the Astro project's files (no network, no Docker).

Dockerfile, docker-compose.override.yml, .env_example, airflow_settings.yaml, .astro/*,
.dockerignore and .gitignore must agree with each other, with include/finance/config.py and with
the Airflow version installed in the local environment.
"""

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from include.finance import edition, schema
from include.finance.config import PROJECT_ROOT

# Astro Runtime tag -> the Apache Airflow version it ships.
# Sources: astronomer/astro-cli pkg/runtimeversions/testdata/catalog.json (entries cut from
# https://updates.astronomer.io/astronomer-runtime, the catalog the CLI reads: 12.12.0 -> 2.10.5,
# 13.5.0 -> 2.11.1 (yanked), 13.10.0 and 13.11.0 -> 2.11.2) and Astro deployments reporting
# astroRuntimeVersion 13.4.0 with airflowVersion 2.11.0. Runtime 13.0.0-13.4.0 are the 2.11.0
# builds; only the tag the Dockerfile uses and its neighbours are listed.
RUNTIME_AIRFLOW = {
    "12.12.0": "2.10.5",
    "13.4.0": "2.11.0",
    "13.5.0": "2.11.1",
    "13.10.0": "2.11.2",
    "13.11.0": "2.11.2",
    # Runtime 3 (Airflow 3) tags are <Airflow major.minor>-<build>; the same catalog's fixtures in astro-cli's
    # tests give 3.3-8 -> 3.3.2 (released 2026-09-23; Pythons 3.12, 3.13, 3.14).
    "3.3-8": "3.3.2",
}
RUNTIME_IMAGE = "quay.io/astronomer/astro-runtime"
# Each edition's Dockerfile, the registry of its runtime (Airflow 2 and 3 runtimes live in different ones) and its lock.
EDITIONS = {
    "Dockerfile": ("quay.io/astronomer/astro-runtime", "requirements.lock"),
    "airflow3/Dockerfile": ("astrocrpublic.azurecr.io/runtime", "requirements-airflow3.lock"),
}

# The Astro CLI release CI installs (.github/workflows/tests.yml).
ASTRO_CLI_VERSION = "1.46.0"

YAML_FILES = ["docker-compose.override.yml", "airflow_settings.yaml", ".astro/config.yaml"]

# What the Astro CLI's own compose file (airflow/include/airflow2/composeyml.go.tmpl) defines:
# the network every Airflow container joins, its volumes, and the host ports it publishes.
CLI_NETWORK = "airflow"
CLI_VOLUMES = {"postgres_data", "airflow_logs"}
CLI_HOST_PORTS = {5432, 8080}


# ----------------------------------------------------------------------------- helpers


def read(rel: str) -> str:
    return (PROJECT_ROOT / rel).read_text()


def load_yaml(rel: str):
    return yaml.safe_load(read(rel))


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def env_example() -> tuple[dict[str, str], dict[str, str]]:
    """The variables .env_example sets, and the ones it shows commented out (host-side variants)."""
    active, commented = {}, {}
    for line in read(".env_example").splitlines():
        match = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            target = commented if match.group(1) else active
            target[match.group(2)] = unquote(match.group(3).strip())
    return active, commented


def parse_connection(value: str) -> dict:
    """Host, port, login, password, schema and extra of an Airflow env-var connection (JSON or URI)."""
    if value.lstrip().startswith("{"):
        conn = json.loads(value)
        extra = conn.get("extra", {})
        if "endpoint_url" in extra:
            url = urlsplit(extra["endpoint_url"])
            conn.setdefault("host", url.hostname)
            conn.setdefault("port", url.port)
        return conn
    url = urlsplit(value)
    return {
        "conn_type": url.scheme,
        "host": url.hostname,
        "port": url.port,
        "login": url.username,
        "password": url.password,
        "schema": url.path.lstrip("/"),
    }


def published_ports(service: dict) -> dict[int, int]:
    """{container port: host port} for a compose service's `ports` (short and long syntax)."""
    result = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            result[int(entry["target"])] = int(entry["published"])
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) == 1:
            continue  # container port only: published on a random host port
        result[int(parts[-1])] = int(parts[-2])
    return result


def dockerfile(path: str = "Dockerfile") -> tuple[str, dict[str, str]]:
    """The Dockerfile's FROM image and its ENV settings."""
    image, env = None, {}
    for line in read(path).splitlines():
        line = line.strip()
        if line.upper().startswith("FROM "):
            image = line.split()[1]
        elif line.upper().startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
    return image, env


@pytest.fixture
def settings():
    """The settings with none of their variables set, i.e. their defaults."""
    from include.finance.config import Settings

    return Settings.from_env({})


@pytest.fixture
def compose():
    return load_yaml("docker-compose.override.yml")["services"]


# ----------------------------------------------------------------------------- YAML files


@pytest.mark.parametrize("rel", YAML_FILES)
def test_yaml_file_parses_to_a_mapping(rel):
    assert isinstance(load_yaml(rel), dict), f"{rel} is not a YAML mapping"


def test_astro_config_names_the_project():
    assert load_yaml(".astro/config.yaml") == {"project": {"name": "finance-elt-ml"}}


def test_airflow_settings_has_the_cli_sections_and_leaves_connections_to_env():
    airflow = load_yaml("airflow_settings.yaml")["airflow"]
    for section in ("connections", "pools", "variables"):
        assert isinstance(airflow.get(section), list), f"airflow.{section} must be a list"
    active, _ = env_example()
    env_conn_ids = {k.removeprefix("AIRFLOW_CONN_").lower() for k in active if k.startswith("AIRFLOW_CONN_")}
    settings_conn_ids = {c.get("conn_id") for c in airflow["connections"]}
    assert not env_conn_ids & settings_conn_ids, "a connection is defined both in .env and airflow_settings.yaml"


# ----------------------------------------------------------------------------- compose services


def test_compose_services_join_the_cli_network(compose):
    assert {"minio", "postgres_data"} <= set(compose)
    for name, service in compose.items():
        if "image" in service:  # an added service, not an override of an Airflow component
            assert CLI_NETWORK in service.get("networks", []), (
                f"{name} is not on the `{CLI_NETWORK}` network, so Airflow containers cannot reach it by name"
            )


def test_compose_volumes_are_declared_and_do_not_reuse_the_cli_volumes(compose):
    declared = set(load_yaml("docker-compose.override.yml").get("volumes") or {})
    assert not declared & CLI_VOLUMES, f"volume names {declared & CLI_VOLUMES} would share the CLI's volumes"
    for name, service in compose.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/", "$", "~")):
                assert source in declared, f"{name} uses undeclared named volume {source}"


def test_compose_host_ports_do_not_clash_with_each_other_or_the_cli(compose):
    host_ports = [p for service in compose.values() for p in published_ports(service).values()]
    assert len(host_ports) == len(set(host_ports)), f"a host port is published twice: {host_ports}"
    assert not set(host_ports) & CLI_HOST_PORTS, "a service takes a host port the Astro CLI uses"


# ----------------------------------------------------------------------------- connections


def test_env_example_defines_the_connections_config_uses(settings):
    active, _ = env_example()
    for conn_id in (settings.aws_conn_id, settings.db_conn_id):
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in active


def test_aws_connection_points_at_the_minio_s3_api(compose, settings):
    minio = compose["minio"]
    active, _ = env_example()
    conn = parse_connection(active[f"AIRFLOW_CONN_{settings.aws_conn_id.upper()}"])
    assert conn["conn_type"] == "aws"
    assert conn["host"] == "minio"
    console = re.search(r"--console-address\s+\"?[^:\s]*:(\d+)", str(minio.get("command", "")))
    assert console and conn["port"] != int(console.group(1)), "the endpoint is MinIO's console, not its S3 API"
    assert conn["port"] in published_ports(minio), "the S3 API port is not the one the service publishes"
    env = minio["environment"]
    assert conn["extra"]["aws_access_key_id"] == env["MINIO_ROOT_USER"]
    assert conn["extra"]["aws_secret_access_key"] == env["MINIO_ROOT_PASSWORD"]


# MinIO's last security release (CVE-2025-62506), published as source only: no image of it exists (minio/minio#21647).
MINIO_SECURITY_RELEASE = "RELEASE.2025-10-15T17-29-55Z"


def test_the_minio_image_is_pinned_and_says_it_predates_minios_security_release(compose):
    image = compose["minio"]["image"]
    repository, _, tag = image.partition(":")
    assert repository == "quay.io/minio/minio" and tag.startswith("RELEASE.") and tag != "latest"
    release = ".".join(tag.split(".")[:2])  # RELEASE.<date>, without a .hotfix.<commit> suffix
    if release < MINIO_SECURITY_RELEASE:  # the tags' dates sort as text
        text = read("docker-compose.override.yml")
        comment = text[:text.index(f"image: {image}")].rsplit("minio:\n", 1)[1]
        assert MINIO_SECURITY_RELEASE in comment and "minio/minio#21647" in comment, "say where the image is pinned"
        deployment = read("docs/deployment.md")
        assert MINIO_SECURITY_RELEASE in deployment and "minio/minio/issues/21647" in deployment


def test_postgres_connection_points_at_the_data_postgres(compose, settings):
    service = compose["postgres_data"]
    active, _ = env_example()
    conn = parse_connection(active[f"AIRFLOW_CONN_{settings.db_conn_id.upper()}"])
    assert conn["conn_type"] in ("postgres", "postgresql")
    assert conn["host"] == "postgres_data"
    assert conn["port"] in published_ports(service)
    env = service["environment"]
    assert (conn["login"], conn["password"], conn["schema"]) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        env["POSTGRES_DB"],
    )


def test_host_side_connections_use_the_published_host_ports(compose):
    active, commented = env_example()
    host_side = {k: v for k, v in commented.items() if k.startswith("AIRFLOW_CONN_")}
    assert set(host_side) == {k for k in active if k.startswith("AIRFLOW_CONN_")}, (
        "each connection needs a commented host-side variant"
    )
    for name, value in host_side.items():
        inside, outside = parse_connection(active[name]), parse_connection(value)
        assert outside["host"] in ("localhost", "127.0.0.1")
        container_port = inside["port"]
        published = published_ports(compose[inside["host"]])
        assert outside["port"] == published[container_port], (
            f"{name}: host side uses port {outside['port']}, compose publishes "
            f"{container_port} on {published[container_port]}"
        )


# ----------------------------------------------------------------------------- settings and Dockerfile


def test_env_example_sets_only_settings_config_reads():
    from dataclasses import fields

    from include.finance.config import Settings

    active, _ = env_example()
    compose = set(re.findall(r"\$\{(\w+)", read("docker-compose.override.yml")))  # what the compose file reads
    unknown = {k for k in active if not k.startswith("AIRFLOW_")} - {f.name.upper() for f in fields(Settings)} - compose
    assert not unknown, f".env_example sets variables neither config.py nor the compose file reads: {sorted(unknown)}"


def test_env_example_documents_every_setting():
    from dataclasses import fields

    from include.finance.config import Settings

    active, commented = env_example()
    missing = [f.name.upper() for f in fields(Settings) if f.name.upper() not in {**active, **commented}]
    assert not missing, f".env_example does not document: {missing}"
    Settings.from_env({**{k: v for k, v in commented.items() if not k.startswith("AIRFLOW_")}, **active})  # valid


def test_env_example_values_are_valid_for_config():
    from include.finance.config import Settings

    active, _ = env_example()
    settings = Settings.from_env(active)  # raises on a value config.py cannot cast
    assert settings.environment == "docker"
    assert settings.poke_interval == int(active["POKE_INTERVAL"])
    # the dataset names the database the connection points at
    conn = parse_connection(active[f"AIRFLOW_CONN_{settings.db_conn_id.upper()}"])
    assert schema.model_satisfaction_uri(settings).startswith(
        f"postgres://{conn['host']}:{conn['port']}/{conn['schema']}/")


@pytest.mark.parametrize("path", EDITIONS)
def test_dockerfile_uses_the_runtime_that_carries_the_locked_airflow(path):
    """Each edition's image runs the Airflow its lock pins (and the local venv of that edition has)."""
    image, _ = dockerfile(path)
    registry, lock = EDITIONS[path]
    repo, _, tag = image.partition(":")
    tag = tag.split("-python-")[0]  # 13.11.0-python-3.11: runtime 13.11.0 in its Python 3.11 variant
    assert repo == registry
    assert tag in RUNTIME_AIRFLOW, f"runtime tag {tag!r} has no known Airflow version; add it with its source"
    locked = re.search(r"^apache-airflow==(\S+)", read(lock), re.M).group(1)
    assert RUNTIME_AIRFLOW[tag] == locked, f"Astro Runtime {tag} ships Airflow {RUNTIME_AIRFLOW[tag]}, {lock} pins {locked}"
    if edition.AIRFLOW_VERSION.split(".")[0] == locked.split(".")[0]:  # the edition this venv runs
        assert edition.AIRFLOW_VERSION == locked


def test_only_the_edition_module_asks_which_airflow_runs():
    """include/finance/edition.py is the one edition switch: no other module of the project checks Airflow's
    version or catches an ImportError to find out (the Astro CLI's own generated test aside)."""
    asks = re.compile(r"except ImportError|version\(\"apache-airflow\"\)|airflow import __version__|airflow\.__version__")
    mine = PROJECT_ROOT / "include" / "finance" / "edition.py"
    offenders = [f"{path.relative_to(PROJECT_ROOT)}:{number}"
                 for folder in ("include", "dags", "airflow3/dags", "plugins", "scripts", "tests", "dashboard")
                 for path in sorted((PROJECT_ROOT / folder).rglob("*.py")) if path != mine and path != Path(__file__)
                 for number, line in enumerate(path.read_text().splitlines(), 1) if asks.search(line)]
    assert not offenders, f"ask include/finance/edition.py instead: {offenders}"


def test_dockerfile_xcom_storage_matches_config(settings):
    _, env = dockerfile()
    assert {key: env.get(key) for key in settings.astro_sdk_env()} == settings.astro_sdk_env()
    assert env_example()[0]["DATA_BUCKET_NAME"] == settings.data_bucket_name


def test_the_local_stack_sets_what_the_dockerfile_sets(tmp_path):
    """Tasks run with the same settings under `astro dev start` and `make run` (of the venv's edition)."""
    from scripts.stack import AIRFLOW_3, Stack

    _, env = dockerfile("airflow3/Dockerfile" if AIRFLOW_3 else "Dockerfile")
    stack_env = Stack(state_dir=tmp_path).env()
    assert {key: stack_env.get(key) for key in env} == env


def test_the_local_stacks_fixed_ports_lie_below_the_ephemeral_port_range():
    """Outgoing connections take their local ports from Linux's ephemeral range (32768-60999 by default):
    a fixed port in it can be held by a client socket in TIME_WAIT and fail a start."""
    from include.finance.config import PROFILES

    ports = {"local profile: db_port": PROFILES["local"].db_port}  # the stack's PostgreSQL
    for script in sorted((PROJECT_ROOT / "scripts").rglob("*.py")):
        text = script.read_text()
        for match in re.finditer(r'(?:(?P<arg>\w+_port)=|"(?P<env>\w+_PORT)", ")(?P<port>\d+)', text):
            ports[f"{script.relative_to(PROJECT_ROOT)}: {match['arg'] or match['env']}"] = int(match["port"])
    assert len(ports) == 18
    assert {name: port for name, port in ports.items() if not 1024 <= port < 32768} == {}


def test_dockerfile_allows_astro_sdk_xcom_classes():
    _, env = dockerfile()
    patterns = env["AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES"].split()
    assert {"airflow.*", "astro.*"} <= set(patterns)


def test_the_airflow3_astro_project_is_the_repository_with_the_editions_files(tmp_path):
    """`make astro-project AIRFLOW=3`: the folder the Astro CLI builds the Airflow 3 edition from."""
    from scripts import astro_project

    project = astro_project.write(tmp_path / "airflow3")
    assert (project / "Dockerfile").read_text() == read("airflow3/Dockerfile")
    assert (project / "requirements.txt").read_text() == read("airflow3/requirements.txt")
    assert sorted(p.name for p in (project / "dags").glob("*.py")) == sorted(p.name for p in (PROJECT_ROOT / "airflow3" / "dags").glob("*.py"))
    assert (project / "dags" / "finance_elt.py").read_text() == read("airflow3/dags/finance_elt.py")
    assert yaml.safe_load((project / ".astro" / "config.yaml").read_text())["project"]["name"] == "finance-elt-ml-airflow3"
    for same in ("packages.txt", "airflow_settings.yaml", "docker-compose.override.yml", ".env_example", ".dockerignore",
                 "include/finance/tasks.py", "include/finance/sql/select_model_rows.sql", ".astro/dag_integrity_exceptions.txt"):
        assert (project / same).read_text() == read(same), same
    # the DAG integrity test astro dev parse and astro deploy run: the edition's own (tests/dags/test_dag_integrity.py runs it)
    integrity_test = ".astro/test_dag_integrity_default.py"
    assert (project / integrity_test).read_text() == read(f"airflow3/{integrity_test}") != read(integrity_test)
    # the edition's DAGs are dags/ there and nowhere else (conftest.py falls back to dags/ without airflow3/dags)
    assert not (project / "airflow3" / "dags").exists() and not (project / "airflow3" / ".astro").exists()
    assert not (project / ".env").exists() and not (project / ".venv").exists() and not (project / ".local").exists()


# ----------------------------------------------------------------------------- ignore files and .astro


def test_env_file_is_git_ignored_and_kept_out_of_the_image():
    gitignore = (PROJECT_ROOT / ".gitignore").read_text().splitlines() if (PROJECT_ROOT / ".gitignore").exists() else []
    assert ".env" in [line.strip() for line in gitignore], ".env (real credentials) must be in .gitignore"
    dockerignore = [line.strip() for line in read(".dockerignore").splitlines()]
    assert ".env" in dockerignore, ".env must not be copied into the image"
    assert ".env_example" not in gitignore


def test_dag_integrity_exceptions_name_existing_files():
    lines = read(".astro/dag_integrity_exceptions.txt").splitlines()
    for entry in (line.strip() for line in lines):
        if entry and not entry.startswith("#"):
            assert (PROJECT_ROOT / entry).is_file(), f"stale DAG integrity exception: {entry}"


def test_dag_integrity_test_is_the_cli_template():
    text = read(".astro/test_dag_integrity_default.py")
    assert text.startswith('"""Test the validity of all DAGs. **USED BY DEV PARSE COMMAND DO NOT EDIT**"""')
    assert ".astro/dag_integrity_exceptions.txt" in text
    assert "DagBag(include_examples=False)" in text  # Airflow 2's DagBag would load its example DAGs without it


def test_the_airflow3_dag_integrity_test_is_the_cli_template_without_include_examples():
    """airflow3/.astro/test_dag_integrity_default.py is astro-cli v1.45.0's Airflow 3 template
    (pkg/airflowrt/include/airflow3/dagintegritytestdefault.py): the Airflow 2 template (the root's) plus the
    patch of airflow.sdk.Variable.get, with `DagBag()` for `DagBag(include_examples=False)`, which Airflow 3.3 refuses."""
    text = read("airflow3/.astro/test_dag_integrity_default.py")
    assert "include_examples=" not in text.replace("passes include_examples=False here", "")
    sdk_patch = re.search(r"\n# Also patch airflow\.sdk\.Variable.*?older Airflow 3\.x version\)\n", text, re.S)
    assert sdk_patch and "airflow_sdk.Variable.get = variable_get_monkeypatch" in sdk_patch.group()
    without_patch = text.replace(sdk_patch.group(), "")
    dagbag_line = re.search(r"\n(?:        #[^\n]*\n)*        dag_bag = DagBag\(\)\n", without_patch)
    assert dagbag_line, "DagBag() with the comment saying why"
    assert without_patch.replace(dagbag_line.group(), "\n        dag_bag = DagBag(include_examples=False)\n") == read(
        ".astro/test_dag_integrity_default.py")


def test_github_workflow_runs_make_test_on_python_3_11_and_astro_dev_pytest():
    workflow = load_yaml(".github/workflows/tests.yml")
    jobs = workflow["jobs"]
    runs = {name: [step.get("run") for step in job["steps"] if step.get("run")] for name, job in jobs.items()}
    assert runs["make-test"] == ["bash .ci/run"]
    assert jobs["make-test"]["container"]["image"].startswith("python:3.11-")
    assert "--privileged" in jobs["make-test"]["container"]["options"]  # namespaces for the Celery workers
    # both editions, each with the README's test command: its unit layer in a session, its other layers in another
    ci_run = [line.strip() for line in read(".ci/run").splitlines()]
    assert {'unit="$PYTEST_ADDOPTS tests/unit"', 'others="$PYTEST_ADDOPTS --ignore=tests/unit"',
            'edition airflow2 env FINANCE_TEST_BACKFILL=last PYTEST_ADDOPTS="$others" make test &',
            'edition airflow2-unit env PYTEST_ADDOPTS="$unit" make test &',
            'edition airflow3 env PYTEST_ADDOPTS="$others" make test AIRFLOW=3 &',
            'edition airflow3-unit env PYTEST_ADDOPTS="$unit" make test AIRFLOW=3 || status=1'} <= set(ci_run)
    assert runs["astro-dev-pytest"] == ["astro dev parse", "astro dev pytest"]
    assert runs["astro-dev-pytest-airflow3"] == ["make astro-project AIRFLOW=3", "astro dev parse", "astro dev pytest"]
    assert [s.get("working-directory") for s in jobs["astro-dev-pytest-airflow3"]["steps"] if s.get("run")] == [
        None, "build/airflow3", "build/airflow3"]
    # The current stable Astro CLI (1.46.0, 2026-09-29, per Astronomer's CLI release notes), in both jobs.
    # tests/dags/test_dag_integrity.py runs .astro/test_dag_integrity_default.py as v1.45.0's source does; 1.46.0's
    # notes change neither `astro dev parse` nor `astro dev pytest` (1.48 goes back to bind mounts for pytest).
    for job in ("astro-dev-pytest", "astro-dev-pytest-airflow3"):
        setup = [s for s in jobs[job]["steps"] if str(s.get("uses", "")).startswith("astronomer/setup-astro-cli@")]
        assert [s["with"]["version"] for s in setup] == [ASTRO_CLI_VERSION], job
    triggers = workflow.get("on") or workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request"} <= set(triggers)
