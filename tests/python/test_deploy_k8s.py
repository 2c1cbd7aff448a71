"""Static checks of deploy/k8s: the kustomization's resources exist, the API authenticates from
its ConfigMap and Secret, the KEDA example is valid (helpers in deploy_files.py)."""

from __future__ import annotations

import re

from deploy_files import *  # noqa: F403


# ---------------------------------------------------------------------------------------
# deploy/k8s


def test_k8s_kustomization_resources():
    kustomization = load_one(K8S / "kustomization.yaml")
    assert kustomization.get("namespace") == "techpotli"
    resources = kustomization.get("resources") or []
    assert "keda-scaledobject.example.yaml" not in resources, "the KEDA file is an example"
    kinds = {}
    for resource in resources:
        path = K8S / resource
        assert path.is_file(), f"kustomization.yaml lists missing {resource}"
        for doc in load_all(path):
            assert doc.get("apiVersion") and doc.get("kind"), f"{resource}: not a k8s object"
            assert (doc.get("metadata") or {}).get("name"), f"{resource}: no metadata.name"
            kinds.setdefault(doc["kind"], []).append(doc)
    assert {"Namespace", "ConfigMap", "Job"} <= set(kinds), f"kinds: {sorted(kinds)}"
    assert kinds["Namespace"][0]["metadata"]["name"] == "techpotli"

    configmaps = {cm["metadata"]["name"]: cm for cm in kinds["ConfigMap"]}
    for cm in configmaps.values():
        assert "DATABASE_URL" not in cm.get("data", {}), "DATABASE_URL belongs in a Secret"
    env = next(iter(configmaps.values()))["data"]
    for key in ("KAFKA_BOOTSTRAP", "SCHEMA_REGISTRY_URL", "REDIS_URL", "ELASTICSEARCH_URL"):
        assert env.get(key), f"the shared ConfigMap lacks {key}"

    job = next(j for j in kinds["Job"] if "topics-init" in j["metadata"]["name"])
    container = job["spec"]["template"]["spec"]["containers"][0]
    script = " ".join(container["command"])
    assert "techpotli topics apply" in script and "techpotli schemas register" in script
    refs = {src["configMapRef"]["name"] for src in container.get("envFrom", []) if "configMapRef" in src}
    assert refs and refs <= set(configmaps), f"Job envFrom {refs}, ConfigMaps {set(configmaps)}"


def test_k8s_api_authentication_from_configmap_and_secret():
    docs = load_all(K8S / "api.yaml")
    configmaps = {
        d["metadata"]["name"]: d.get("data") or {}
        for path in sorted(K8S.glob("*.yaml"))
        for d in load_all(path)
        if d.get("kind") == "ConfigMap"
    }
    for name, data in configmaps.items():
        assert INSECURE_DEV_AUTH not in data, f"ConfigMap {name} sets {INSECURE_DEV_AUTH}"
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container.get("env", [])}
    assert INSECURE_DEV_AUTH not in env, f"techpotli-api Deployment sets {INSECURE_DEV_AUTH}"
    for key in ("OIDC_ISSUER", "OIDC_AUDIENCE", "API_CART_SECRET"):
        assert "value" not in env.get(key, {}), f"{key} is set inline: it comes from a ConfigMap/Secret"
    cm_refs = [s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s]
    secret_refs = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
    assert "techpotli-api" in secret_refs, "API_CART_SECRET comes from Secret techpotli-api"
    oidc = {}
    for ref in cm_refs:
        assert ref in configmaps, f"envFrom names unknown ConfigMap {ref}"
        oidc.update(configmaps[ref])
    assert re.fullmatch(r"https?://\S+", oidc.get("OIDC_ISSUER", "")), "no OIDC_ISSUER ConfigMap"
    assert oidc.get("OIDC_AUDIENCE") == API_AUDIENCE
    assert "API_CART_SECRET" not in oidc, "API_CART_SECRET belongs in a Secret"


def test_k8s_keda_example():
    scaled = load_one(K8S / "keda-scaledobject.example.yaml")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1" and scaled["kind"] == "ScaledObject"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "techpotli-inventory"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 6)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == "inventory", "the runtime's group id is the app id"
    assert str(trigger["metadata"]["lagThreshold"]) == "1000"
    assert (K8S / "README.md").is_file()
