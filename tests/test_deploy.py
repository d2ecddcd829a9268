"""The deployment in deploy/: images and Kubernetes manifests, checked offline.

The manifests are validated against the Kubernetes API schemas that the
kubernetes-validate package ships, for one pinned Kubernetes version, in strict mode (an
unknown field is an error). Its own `validate()` is not called: it needs jsonschema >= 4.18
and `referencing`, while Rasa 3.6 pins jsonschema < 4.18 and attrs < 22.2 (which
`referencing` outgrew). The schemas are the same files, read here with the project's
jsonschema.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
import yaml

from bot import stack
from bot.settings import Settings, env_name

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
KUBERNETES_VERSION = "1.33.0"
SECRET_TEMPLATE = "secret.template.yaml"
OUR_IMAGES = ("detox/web", "detox/rasa", "detox/actions")
WORKLOADS = ("Deployment", "StatefulSet", "Job")
SECRET_NAMES = {"RASA_TOKEN", "BOT_SECRET_KEY", "BOT_DB_URL", "POSTGRES_PASSWORD"}
PLACEHOLDER = "REPLACE_ME"

# Settings whose default is wrong in a cluster, per process, and why.
MUST_SET = {
    "web": {
        "BOT_DB_URL": "the default is a SQLite file inside the pod",
        "RASA_TOKEN": "the default is random per process, so it would never match Rasa's",
        "BOT_SECRET_KEY": "the default is a key generated per pod: sessions would fail across replicas",
        "BOT_RASA_URLS": "the default is Rasa on the pod's own loopback",
        "BOT_TRUST_PROXY": "behind the ingress every visitor would share one rate-limit bucket",
        "BOT_COOKIE_SECURE": "TLS ends at the ingress, so the app alone would not mark cookies Secure",
        "BOT_HOST": "the default, loopback, is unreachable from other pods",
    },
    "rasa": {
        "BOT_DB_URL": "the default is a SQLite file no other replica can see",
        "BOT_REDIS_URL": "without a shared lock store two replicas can take one conversation at once",
        "RASA_TOKEN": "the web app and the readiness probe need the same token",
        "BOT_HOST": "the default, loopback, is unreachable from other pods",
    },
    "migrate": {"BOT_DB_URL": "it must migrate the database the servers use"},
}


# ---------------------------------------------------------------- reading the manifests


def manifest_files() -> List[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def documents() -> List[Tuple[str, Dict[str, Any]]]:
    docs = []
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                docs.append((path.name, doc))
    return docs


def doc_id(item: Tuple[str, Dict[str, Any]]) -> str:
    name, doc = item
    return f"{name}:{doc['kind']}/{doc['metadata']['name']}"


def pod_specs() -> Iterator[Tuple[str, Dict[str, Any], Dict[str, Any]]]:
    """(workload name, workload, pod spec) of every workload."""
    for _, doc in documents():
        if doc["kind"] in WORKLOADS:
            yield doc["metadata"]["name"], doc, doc["spec"]["template"]["spec"]


def containers(spec: Dict[str, Any], init: bool = True) -> List[Dict[str, Any]]:
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def is_ours(container: Dict[str, Any]) -> bool:
    return container["image"].split(":")[0] in OUR_IMAGES


def config_maps() -> Dict[str, Dict[str, str]]:
    return {doc["metadata"]["name"]: doc.get("data", {}) for _, doc in documents() if doc["kind"] == "ConfigMap"}


def env_of(container: Dict[str, Any]) -> Dict[str, Any]:
    """Every variable a container gets from the manifests: name -> its env entry, or the
    ConfigMap value for envFrom."""
    env: Dict[str, Any] = {}
    maps = config_maps()
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{container['name']}: envFrom only from ConfigMaps, secrets key by key"
        env.update(maps[source["configMapRef"]["name"]])
    for entry in container.get("env", []):
        env[entry["name"]] = entry
    return env


def settings_env_names() -> Set[str]:
    return {env_name(field) for field in Settings.__fields__.values()}


def stack_extra_env_names(monkeypatch: pytest.MonkeyPatch) -> Set[str]:
    """What bot/stack.py adds to a process's environment besides the settings (for Rasa,
    rasa_sdk and the endpoints files): the only other variables a manifest may set."""
    for name in list(stack.os.environ):
        monkeypatch.delenv(name)
    settings = Settings(db_url="postgresql://u:p@db/x", redis_url="redis://redis:6379/0")
    return set(stack.process_env(settings)) - settings_env_names()


# ---------------------------------------------------------------- schema validation


def schema_dir() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            "kubernetes-validate is not installed: `.venv/bin/pip install --no-deps kubernetes-validate==1.33.1`"
        )
    return (
        Path(list(spec.submodule_search_locations)[0])
        / "kubernetes-json-schema"
        / f"v{KUBERNETES_VERSION}-local-strict"
    )


def validate(doc: Dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `doc` is a valid object of the pinned version."""
    folder = schema_dir()
    # as kubernetes-validate names its files: networking.k8s.io/v1 -> networking-v1
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    path = folder / f"{doc['kind'].lower()}-{api}.json"
    assert path.exists(), f"no schema for {doc['apiVersion']} {doc['kind']} in Kubernetes {KUBERNETES_VERSION}"
    schema = json.loads(path.read_text(encoding="utf-8"))
    definitions = json.loads((folder / "_definitions.json").read_text(encoding="utf-8"))
    resolver = jsonschema.RefResolver.from_schema(schema, store={definitions["$id"]: definitions})
    jsonschema.Draft202012Validator(schema, resolver=resolver).validate(doc)


@pytest.mark.parametrize("item", documents(), ids=doc_id)
def test_every_manifest_is_valid_for_the_pinned_kubernetes_version(item):
    validate(item[1])


def test_the_validation_rejects_an_unknown_field_and_a_wrong_type():
    _, deployment = next(d for d in documents() if d[1]["kind"] == "Deployment")
    typo = json.loads(json.dumps(deployment))
    typo["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(jsonschema.ValidationError):
        validate(typo)
    wrong = json.loads(json.dumps(deployment))
    wrong["spec"]["replicas"] = "three"
    with pytest.raises(jsonschema.ValidationError):
        validate(wrong)


def test_kustomization_applies_every_manifest_except_the_secret_template():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    expected = {p.name for p in manifest_files()} - {SECRET_TEMPLATE}
    assert listed == expected
    assert kustomization["namespace"] == "detox"
    assert all(doc["metadata"].get("namespace", "detox") == "detox" for _, doc in documents())


# ---------------------------------------------------------------- what a reviewer checks


def test_every_container_has_probes_and_resource_limits():
    for name, _, spec in pod_specs():
        for container in containers(spec):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{name}/{container['name']}: {kind}"
        if _["kind"] == "Job":
            continue  # a one-shot job is judged by its exit status, not by probes
        for container in containers(spec, init=False):
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{name}/{container['name']} has no {probe}"


def test_probes_ask_the_real_endpoints():
    probes = {}
    for name, _, spec in pod_specs():
        for container in containers(spec, init=False):
            probes[name] = {kind: container.get(kind) for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    # Rasa's `/` answers even when the model failed to load; readiness must ask /status
    assert probes["rasa"]["readinessProbe"]["exec"]["command"] == ["python", "deploy/probe.py", "--rasa-model"]
    assert probes["rasa"]["livenessProbe"]["httpGet"]["path"] == "/"
    assert {p["httpGet"]["path"] for p in probes["web"].values()} == {"/healthz"}
    assert {p["httpGet"]["path"] for p in probes["actions"].values()} == {"/health"}
    assert '@app.get("/healthz"' in (ROOT / "bot" / "web" / "app.py").read_text(encoding="utf-8")
    rasa_sdk = importlib.util.find_spec("rasa_sdk.endpoint")
    assert '@app.get("/health")' in Path(rasa_sdk.origin).read_text(encoding="utf-8")


def test_every_pod_runs_as_non_root_without_capabilities():
    for name, _, spec in pod_specs():
        pod = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, name
        for container in containers(spec):
            context = {**pod, **container.get("securityContext", {})}
            where = f"{name}/{container['name']}"
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser", 0) != 0, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", where


def test_secrets_hold_only_placeholders_and_travel_only_in_secrets():
    secrets = [doc for _, doc in documents() if doc["kind"] == "Secret"]
    assert secrets, "no Secret template"
    for secret in secrets:
        assert "data" not in secret, "base64 data hides what it holds: stringData placeholders only"
        assert set(secret["stringData"]) == SECRET_NAMES
        for key, value in secret["stringData"].items():
            assert PLACEHOLDER in value, f"{key} looks like a real value"
            password = urlparse(value).password
            assert password is None or password.startswith(PLACEHOLDER), key
    for name, _, spec in pod_specs():
        for container in containers(spec):
            for var, entry in env_of(container).items():
                if var in SECRET_NAMES:
                    assert isinstance(entry, dict) and "secretKeyRef" in entry.get("valueFrom", {}), (
                        f"{name}/{container['name']}: {var} must come from the Secret"
                    )
    for data in config_maps().values():
        assert not SECRET_NAMES & set(data)


def test_only_the_web_app_is_exposed():
    services = {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == "Service"}
    exposed = set()
    for _, doc in documents():
        if doc["kind"] == "Ingress":
            assert doc["spec"]["tls"], "the Ingress must terminate TLS"
            for rule in doc["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    service = services[path["backend"]["service"]["name"]]
                    exposed.add(service["spec"]["selector"]["app.kubernetes.io/name"])
            assert doc["spec"].get("defaultBackend") is None
    assert exposed == {"web"}
    for service in services.values():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]


def allowed_sources(target: str) -> Set[str]:
    """Names of the pods every NetworkPolicy lets reach pods named `target`."""
    sources: Set[str] = set()
    for _, doc in documents():
        if doc["kind"] != "NetworkPolicy":
            continue
        if doc["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") != target:
            continue
        for rule in doc["spec"].get("ingress", []):
            for peer in rule.get("from", [{"everyone": True}]):
                selector = peer.get("podSelector")
                if selector is None or "namespaceSelector" in peer:
                    sources.add("outside the namespace")
                    continue
                sources.update(selector.get("matchLabels", {}).values())
                for expression in selector.get("matchExpressions", []):
                    sources.update(expression["values"])
    return sources


def test_network_policies_let_only_the_web_app_reach_rasa_and_only_rasa_the_actions():
    default_deny = [
        doc
        for _, doc in documents()
        if doc["kind"] == "NetworkPolicy" and doc["spec"]["podSelector"] == {} and not doc["spec"].get("ingress")
    ]
    assert default_deny and "Ingress" in default_deny[0]["spec"]["policyTypes"]
    assert allowed_sources("rasa") == {"web"}
    assert allowed_sources("actions") == {"rasa"}
    assert allowed_sources("redis") == {"rasa"}
    assert allowed_sources("postgres") == {"web", "rasa", "migrate"}


def our_containers() -> Iterator[Tuple[str, Dict[str, Any]]]:
    for name, _, spec in pod_specs():
        for container in containers(spec, init=False):
            if is_ours(container):
                yield name, container


def test_every_variable_the_manifests_set_is_read_by_the_product(monkeypatch):
    known = settings_env_names() | stack_extra_env_names(monkeypatch)
    for name, _, spec in pod_specs():
        for container in containers(spec):
            if is_ours(container):
                unknown = set(env_of(container)) - known
                assert not unknown, f"{name}/{container['name']} sets what nothing reads: {sorted(unknown)}"


def test_every_setting_without_a_safe_default_is_set(monkeypatch):
    known = settings_env_names() | stack_extra_env_names(monkeypatch)
    endpoint_vars = set(re.findall(r"\$\{(\w+)\}", (ROOT / "endpoints.scale-out.yml").read_text(encoding="utf-8")))
    required = {workload: set(reasons) for workload, reasons in MUST_SET.items()}
    required["rasa"] |= endpoint_vars  # Rasa starts without bot/stack.py, which would derive them
    set_by = {name: set(env_of(container)) for name, container in our_containers()}
    for workload, names in required.items():
        assert names <= known, f"not a setting: {sorted(names - known)}"
        missing = names - set_by[workload]
        assert not missing, f"{workload} leaves unset: " + "; ".join(
            f"{n} ({MUST_SET.get(workload, {}).get(n, 'read by endpoints.scale-out.yml')})" for n in sorted(missing)
        )


def test_the_processes_point_at_each_other():
    env = {name: env_of(container) for name, container in our_containers()}
    services = {
        doc["metadata"]["name"]: doc["spec"]["ports"][0]["port"] for _, doc in documents() if doc["kind"] == "Service"
    }
    assert env["web"]["BOT_RASA_URLS"]["value"] == f"http://rasa:{services['rasa']}"
    assert env["rasa"]["ACTION_ENDPOINT_URL"]["value"] == f"http://actions:{services['actions']}/webhook"
    redis = urlparse(env["rasa"]["BOT_REDIS_URL"]["value"])
    assert (redis.hostname, str(redis.port)) == (
        env["rasa"]["BOT_REDIS_HOST"]["value"],
        env["rasa"]["BOT_REDIS_PORT"]["value"],
    )
    assert redis.port == services["redis"]
    token = [env[n]["RASA_TOKEN"]["valueFrom"]["secretKeyRef"] for n in ("web", "rasa")]
    assert token[0] == token[1]


def test_rasa_runs_several_replicas_with_a_disruption_budget():
    rasa = next(doc for _, doc in documents() if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "rasa")
    assert rasa["spec"]["replicas"] >= 2
    assert rasa["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budgets = [doc for _, doc in documents() if doc["kind"] == "PodDisruptionBudget"]
    assert [b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for b in budgets] == ["rasa"]
    memory = rasa["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"]
    assert int(memory.removesuffix("Mi")) >= 960, "Rasa holds about 950 MiB after make bench's load"


def test_the_servers_wait_for_the_migration_job():
    jobs = [doc for _, doc in documents() if doc["kind"] == "Job"]
    assert [c["command"] for j in jobs for c in j["spec"]["template"]["spec"]["containers"]] == [["bot", "migrate"]]
    for name, _, spec in pod_specs():
        if name in ("web", "rasa"):
            commands = [c["command"] for c in spec.get("initContainers", [])]
            assert ["python", "deploy/wait_for_schema.py"] in commands, name


# ---------------------------------------------------------------- the images


def dockerfile_instructions() -> List[Tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            result.append((instruction.upper(), rest.strip()))
    return result


def stages() -> Dict[str, List[Tuple[str, str]]]:
    result: Dict[str, List[Tuple[str, str]]] = {}
    current = None
    for instruction, rest in dockerfile_instructions():
        if instruction == "FROM":
            current = rest.split()[-1]
            result[current] = [(instruction, rest)]
        elif current:
            result[current].append((instruction, rest))
    return result


def test_the_images_install_only_from_the_hashed_locks():
    installs = []
    for instruction, rest in dockerfile_instructions():
        if instruction == "RUN":
            for command in re.split(r"&&|;", rest):
                words = shlex.split(command)
                if "pip" in words and "install" in words:
                    installs.append(words[words.index("install") + 1 :])
    assert ["--require-hashes", "-r", "requirements.lock"] in installs
    assert ["--require-hashes", "--no-deps", "-r", "requirements-nodeps.txt"] in installs
    project = [words for words in installs if words[-1] == "."]
    assert len(project) == 1 and "--no-deps" in project[0]
    for words in installs:
        assert "--require-hashes" in words or words in project, f"unhashed install: {words}"
        assert "--no-deps" in words or words[-1] == "requirements.lock", f"resolves on its own: {words}"
    assert "requirements-test" not in DOCKERFILE.read_text(encoding="utf-8")
    assert any(i == "ARG" and r == "PYTHON_IMAGE=python:3.10-slim" for i, r in dockerfile_instructions())


def test_each_image_runs_as_non_root_with_a_healthcheck_and_no_secret():
    all_stages = stages()
    assert {"web", "rasa", "actions"} <= set(all_stages)
    users = [rest for instruction, rest in all_stages["runtime"] if instruction == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    for target in ("web", "rasa", "actions"):
        body = all_stages[target]
        assert body[0][1].split()[0] == "runtime", f"{target} must build on the non-root runtime stage"
        assert not any(i == "USER" for i, _ in body[1:]), target
        assert any(i == "HEALTHCHECK" and "deploy/probe.py" in r for i, r in body), target
        assert any(i == "CMD" for i, _ in body), target
    for instruction, rest in dockerfile_instructions():
        if instruction in ("ENV", "ARG"):
            assert not any(name in rest for name in SECRET_NAMES), f"{instruction} {rest}"


def test_the_build_context_leaves_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", "var", "build", "tests", ".git", "models/*"):
        assert entry in ignored, entry
    assert "!models/detox.tar.gz" in ignored  # the rasa target's build input
    assert "deploy" not in ignored  # the probes go into the images


# ---------------------------------------------------------------- the probe itself


def load_probe():
    spec = importlib.util.spec_from_file_location("deploy_probe", DEPLOY / "probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeRasa(BaseHTTPRequestHandler):
    loaded = False

    def do_GET(self):  # noqa: N802 - the name http.server calls
        url = urlparse(self.path)
        if url.path == "/status":
            if parse_qs(url.query).get("token") != ["sesame"]:
                self.send_response(401)
                body = b"{}"
            elif not self.loaded:
                self.send_response(409)
                body = b'{"message": "No agent loaded."}'
            else:
                self.send_response(200)
                body = b'{"model_file": "detox.tar.gz", "model_id": "x"}'
        else:
            self.send_response(200)
            body = b"Hello from Rasa"
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_rasa(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), FakeRasa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RASA_PORT", str(server.server_port))
    yield server
    server.shutdown()
    server.server_close()
    FakeRasa.loaded = False


def test_the_rasa_probe_passes_only_with_the_token_and_a_loaded_model(fake_rasa, monkeypatch):
    probe = load_probe()
    monkeypatch.setenv("RASA_TOKEN", "sesame")
    assert probe.main(["--rasa-model"]) == 1  # up, but no model: 409
    assert probe.main([f"http://127.0.0.1:{fake_rasa.server_port}/"]) == 0  # while `/` says hello
    FakeRasa.loaded = True
    assert probe.main(["--rasa-model"]) == 0
    monkeypatch.setenv("RASA_TOKEN", "wrong")
    assert probe.main(["--rasa-model"]) == 1
    monkeypatch.delenv("RASA_TOKEN")
    with pytest.raises(SystemExit):
        probe.main(["--rasa-model"])


def test_the_probe_fails_when_nothing_listens():
    probe = load_probe()
    server = HTTPServer(("127.0.0.1", 0), FakeRasa)
    port = server.server_port
    server.server_close()
    assert probe.main([f"http://127.0.0.1:{port}/healthz"]) == 1
