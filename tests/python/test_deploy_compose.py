"""Static checks of docker-compose.yml, deploy/Dockerfile and deploy/keycloak (helpers in
deploy_files.py).

Docker cannot run on the project's machines, so these files are checked by reading them:
every YAML parses, the compose stack holds the promised services with healthchecks, its
references (depends_on, build paths, bind mounts) resolve, the commented ROADMAP block in
docker-compose.yml is valid compose once uncommented, and every binary the workspace defines
is run by some compose service (or listed in that block). The ingress API runs with real
authentication everywhere (compose and k8s): never API_INSECURE_DEV_AUTH, tokens from the
compose stack's Keycloak, whose realm file deploy/keycloak/techpotli-realm.json is checked
too. The binaries come from `cargo metadata --no-deps`, which reads the manifests and compiles
nothing.

No network, no broker: fast and deterministic.
"""

from __future__ import annotations

import re

import pytest

from deploy_files import *  # noqa: F403


# ---------------------------------------------------------------------------------------
# every YAML


@pytest.mark.parametrize("path", deploy_yaml_files(), ids=rel)
def test_yaml_parses(path):
    docs = load_all(path)
    assert docs, f"{rel(path)} holds no YAML document"
    for doc in docs:
        assert isinstance(doc, dict), f"{rel(path)}: every document must be a mapping"


# ---------------------------------------------------------------------------------------
# docker-compose.yml


def test_compose_is_compose_spec():
    doc = compose()
    assert "version" not in doc, "the compose spec has no top-level `version:`"
    assert isinstance(doc.get("services"), dict) and doc["services"]


def test_compose_has_infra_services_with_pinned_images():
    services = compose()["services"]
    missing = sorted(set(INFRA_IMAGES) - set(services))
    assert not missing, f"docker-compose.yml lacks infra services {missing}"
    for name, repo in INFRA_IMAGES.items():
        image = services[name].get("image", "")
        image_repo, _, tag = image.rpartition(":")
        assert image_repo == repo, f"{name}: image {image!r}, expected {repo}:<tag>"
        assert tag and tag != "latest", f"{name}: pin the image tag, got {image!r}"


def test_compose_healthchecks_where_promised():
    services = compose()["services"]
    for name in sorted(HEALTHCHECKED):
        hc = services[name].get("healthcheck")
        assert hc and not hc.get("disable"), f"{name} has no healthcheck"
        test = hc.get("test")
        assert test and test not in (["NONE"], "NONE"), f"{name}: healthcheck without a test"


def test_compose_kafka_is_single_node_kraft():
    env = env_map(compose()["services"]["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "//localhost:29092" in env["KAFKA_ADVERTISED_LISTENERS"]
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1", f"kafka: {key} must be 1 on one broker"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_compose_depends_on_targets_exist():
    services = compose()["services"]
    for name, svc in services.items():
        for target, spec in depends_on_map(svc).items():
            assert target in services, f"{name} depends on unknown service {target!r}"
            condition = spec.get("condition", "service_started")
            assert condition in DEPENDS_ON_CONDITIONS, f"{name} -> {target}: bad condition"
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )


def test_compose_paths_exist():
    for name, svc in compose()["services"].items():
        build = svc.get("build")
        if build is not None:
            if isinstance(build, str):
                build = {"context": build}
            context = ROOT / build.get("context", ".")
            assert context.is_dir(), f"{name}: build context {context} does not exist"
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: dockerfile {dockerfile} does not exist"
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            if source and source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: bind mount source {source} missing"


def test_compose_topics_init():
    svc = compose()["services"]["topics-init"]
    assert svc.get("image") == "techpotli:dev"
    assert svc.get("restart") == "no", "topics-init is a one-shot"
    script = " ".join(svc["command"]) if isinstance(svc["command"], list) else svc["command"]
    assert "techpotli topics apply" in script and "techpotli schemas register" in script
    env = env_map(svc)
    for key in ("KAFKA_BOOTSTRAP", "SCHEMA_REGISTRY_URL"):
        assert env.get(key) == COMPOSE_ENV[key], f"topics-init: {key}"
    deps = depends_on_map(svc)
    for infra in ("kafka", "schema-registry"):
        assert deps.get(infra, {}).get("condition") == "service_healthy"


def test_compose_api_runs_with_real_authentication():
    services = compose()["services"]
    for name, svc in {**services, **roadmap()}.items():
        assert INSECURE_DEV_AUTH not in env_map(svc), (
            f"{name} sets {INSECURE_DEV_AUTH}: it is for `techpotli dev` only; the compose "
            f"stack authenticates against its keycloak service"
        )
    api = env_map(services["techpotli-api"])
    kc = env_map(services["keycloak"])

    # Every token names the same issuer whoever fetched it: Keycloak's fixed front-end URL.
    hostname = kc.get("KC_HOSTNAME", "").rstrip("/")
    assert re.fullmatch(r"https?://[\w.-]+:\d+", hostname), (
        f"keycloak: KC_HOSTNAME must be a full URL with the host port, got {hostname!r}"
    )
    assert api.get("OIDC_ISSUER") == f"{hostname}/realms/{REALM}", (
        f"techpotli-api: OIDC_ISSUER {api.get('OIDC_ISSUER')!r} is not the `iss` Keycloak "
        f"writes ({hostname}/realms/{REALM})"
    )
    host_port = hostname.rsplit(":", 1)[1]
    published = {
        port.rsplit(":", 2)[-2]: port.rsplit(":", 1)[-1]
        for port in services["keycloak"].get("ports", [])
    }
    assert published.get(host_port) == "8080", (
        f"keycloak: KC_HOSTNAME names host port {host_port}, ports {published} do not map it "
        f"to the container's 8080"
    )

    # The issuer's host (the host's localhost) is unreachable from the API's container:
    # discovery in-network, and back-channel URLs (jwks_uri) that follow the request's host.
    discovery = api.get("OIDC_DISCOVERY_URL", "")
    assert discovery == (
        f"http://keycloak:8080/realms/{REALM}/.well-known/openid-configuration"
    ), f"techpotli-api: OIDC_DISCOVERY_URL {discovery!r}"
    assert kc.get("KC_HOSTNAME_BACKCHANNEL_DYNAMIC") == "true", (
        "keycloak: without KC_HOSTNAME_BACKCHANNEL_DYNAMIC the discovery document's jwks_uri "
        "names KC_HOSTNAME, which the API's container cannot reach"
    )

    assert api.get("OIDC_AUDIENCE") == API_AUDIENCE
    assert api.get("API_ADMIN_ROLE", "admin") in REALM_ROLES
    cart_secret = compose_value(api.get("API_CART_SECRET", ""))
    assert len(cart_secret.encode()) >= 32, "techpotli-api: API_CART_SECRET needs >= 32 bytes"
    deps = depends_on_map(services["techpotli-api"])
    assert deps.get("keycloak", {}).get("condition") == "service_healthy", (
        "techpotli-api must wait for keycloak to be healthy"
    )


def test_compose_keycloak_imports_the_realm():
    svc = compose()["services"]["keycloak"]
    image_tag = svc["image"].rpartition(":")[2]
    assert image_tag.startswith("26."), f"keycloak: pin a 26.x image, got {svc['image']!r}"
    command = svc.get("command") or []
    command = shlex.split(command) if isinstance(command, str) else command
    assert command and command[0] in ("start-dev", "start"), f"keycloak: command {command}"
    assert "--import-realm" in command, "keycloak: the realm is imported with --import-realm"
    mounts = {}
    for volume in svc.get("volumes") or []:
        source, target = volume.split(":")[:2]
        mounts[(ROOT / source).resolve()] = target
    target = mounts.get(KEYCLOAK_REALM.resolve(), "")
    assert target.startswith(KEYCLOAK_IMPORT_DIR) and target.endswith(".json"), (
        f"keycloak: mount {rel(KEYCLOAK_REALM)} under {KEYCLOAK_IMPORT_DIR}, got {target!r}"
    )
    env = env_map(svc)
    assert env.get("KC_HEALTH_ENABLED") == "true", "keycloak: /health/ready needs KC_HEALTH_ENABLED"
    test = svc["healthcheck"]["test"]
    script = " ".join(test) if isinstance(test, list) else test
    assert "/health/ready" in script and "9000" in script, (
        "keycloak: the healthcheck probes /health/ready on the management port 9000"
    )
    assert not re.search(r"\b(curl|wget)\b", script), "the keycloak image has no curl or wget"


def test_keycloak_realm_file():
    rep = realm()
    assert rep.get("realm") == REALM and rep.get("enabled", True)
    # Without `clientScopes` Keycloak creates its default scopes, which every client gets:
    # `basic` (the `sub` claim) and `roles` (`realm_access.roles`), the two claims the API reads.
    assert "clientScopes" not in rep and "defaultDefaultClientScopes" not in rep, (
        "the realm must keep Keycloak's default client scopes (basic: sub, roles: realm_access)"
    )
    roles = {r["name"] for r in (rep.get("roles") or {}).get("realm", [])}
    assert REALM_ROLES <= roles, f"realm roles {sorted(roles)} lack {sorted(REALM_ROLES - roles)}"

    clients = {c["clientId"]: c for c in rep.get("clients", [])}
    assert API_AUDIENCE in clients, f"no client {API_AUDIENCE!r} (the audience)"
    api = clients[API_AUDIENCE]
    assert api.get("enabled", True)
    assert not api.get("directAccessGrantsEnabled"), f"{API_AUDIENCE} is not a login client"

    assert STOREFRONT_CLIENT in clients, f"no client {STOREFRONT_CLIENT!r}"
    storefront = clients[STOREFRONT_CLIENT]
    assert storefront.get("publicClient") is True, "storefront is a public client"
    assert storefront.get("directAccessGrantsEnabled") is True, (
        "storefront: direct access grants (password grant) for dev and tests"
    )
    assert storefront.get("fullScopeAllowed", True), "storefront tokens carry all realm roles"
    for c in clients.values():
        for key in ("defaultClientScopes", "optionalClientScopes"):
            assert key not in c, f"{c['clientId']}: keep the realm's default client scopes"
    audience = [
        m
        for m in storefront.get("protocolMappers", [])
        if m.get("protocolMapper") == "oidc-audience-mapper"
    ]
    assert any(
        m["config"].get("included.client.audience") == API_AUDIENCE
        and m["config"].get("access.token.claim") == "true"
        for m in audience
    ), f"storefront: no audience mapper putting aud={API_AUDIENCE} in access tokens"

    users = rep.get("users", [])
    by_role = {role: [u for u in users if role in u.get("realmRoles", [])] for role in REALM_ROLES}
    for role, holders in by_role.items():
        assert holders, f"no demo user with realm role {role!r}"
    for user in users:
        name = user.get("username")
        assert user.get("enabled", True), f"{name} is disabled"
        # Keycloak's user profile asks for these before it issues a token (password grant:
        # "Account is not fully set up").
        for field in ("email", "firstName", "lastName"):
            assert user.get(field), f"{name}: {field} missing"
        assert not user.get("requiredActions"), f"{name}: required actions block the password grant"
        passwords = [c for c in user.get("credentials", []) if c.get("type") == "password"]
        assert passwords, f"{name} has no password"
        for c in passwords:
            assert not c.get("temporary"), f"{name}: a temporary password blocks the password grant"
            assert "dev-only" in c.get("value", ""), (
                f"{name}: demo passwords are published; their value must say dev-only"
            )


def test_compose_roadmap_block():
    services = compose()["services"]
    planned = roadmap()
    duplicated = sorted(set(planned) & set(services))
    assert not duplicated, f"in both services and the ROADMAP block: {duplicated}"
    missing = sorted(PLANNED_SERVICES - set(planned) - set(services))
    assert not missing, f"planned services neither in compose nor in the ROADMAP: {missing}"
    known = set(services) | set(planned)
    for name, svc in planned.items():
        assert svc.get("image") == "techpotli:dev", f"{name}: runs the techpotli:dev image"
        assert executables(svc.get("command")) == {name}, f"{name}: command runs {name}"
        env = env_map(svc)
        for key in ("KAFKA_BOOTSTRAP", "SCHEMA_REGISTRY_URL"):
            assert key in env, f"{name}: missing {key}"
        for key, value in COMPOSE_ENV.items():
            if key in env:
                assert env[key] == value, f"{name}: {key}={env[key]!r}, expected {value!r}"
        for target in depends_on_map(svc):
            assert target in known, f"{name} depends on unknown service {target!r}"
    api = planned.get("techpotli-api") or services.get("techpotli-api")
    assert set(COMPOSE_ENV) <= set(env_map(api)), "techpotli-api needs every shared setting"


def test_every_workspace_binary_is_in_compose():
    binaries = workspace_binaries()
    assert "techpotli" in binaries, f"cargo metadata found no `techpotli` bin: {sorted(binaries)}"
    covered = (
        service_executables(compose()["services"])
        | service_executables(roadmap())
        | set(roadmap())
    )
    missing = sorted(binaries - DEV_ONLY_BINARIES - covered)
    assert not missing, (
        f"binaries not run by any docker-compose.yml service nor listed in its ROADMAP "
        f"block: {missing}"
    )


# ---------------------------------------------------------------------------------------
# deploy/Dockerfile, .dockerignore


def test_dockerfile_is_multi_stage_release_build():
    text = DOCKERFILE.read_text(encoding="utf-8")
    froms = re.findall(r"^\s*FROM\s+(\S+)", text, flags=re.MULTILINE | re.IGNORECASE)
    assert len(froms) >= 2, f"deploy/Dockerfile needs a builder and a runtime stage: {froms}"
    assert re.search(r"cargo build --release\b", text), "no `cargo build --release` line"
    assert not re.search(r"^\s*ENTRYPOINT\b", text, flags=re.MULTILINE), (
        "one image runs many binaries: no ENTRYPOINT, each container names its command"
    )
    assert re.search(r"^\s*CMD\b", text, flags=re.MULTILINE)
    assert re.search(r"^\s*USER\s+(?!0\b|root\b)\S+", text, flags=re.MULTILINE), (
        "the runtime stage runs as a non-root user"
    )
    # The builder's Rust must be the toolchain rust-toolchain.toml pins (major.minor).
    channel = re.search(
        r'^channel\s*=\s*"(\d+\.\d+)', (ROOT / "rust-toolchain.toml").read_text(), re.MULTILINE
    )
    rust = [image for image in froms if image.startswith("rust:")]
    assert channel and rust, "expected a rust:<version> builder and a pinned channel"
    assert rust[0].startswith(f"rust:{channel.group(1)}"), (
        f"builder {rust[0]} does not match rust-toolchain.toml {channel.group(1)}"
    )


def test_dockerignore_keeps_build_output_out_of_the_context():
    entries = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    for entry in ("target", ".git", ".techpotli", ".venv", "__pycache__"):
        assert entry in entries, f".dockerignore lacks {entry}"
    for needed in ("vendor", "Cargo.lock", "rust-toolchain.toml"):
        assert needed not in entries, f".dockerignore must not exclude {needed}: the build needs it"
