"""The deployment files, checked without a cluster: Zero to JupyterHub values, the model-cache Job, the hub config, binder/.

- deploy/kubernetes/values.yaml, merged over the chart's own defaults the way helm merges them,
  must validate against the chart's published values schema (chart 4.4.0, vendored with its
  licence in tests/data/z2jh-4.4.0/). Where that schema leaves a mapping open (``hub.config``,
  a profile's ``kubespawner_override``), each key must be a configurable trait of the class it
  configures. A values file with a misspelt key must fail the same check.
- deploy/kubernetes/model-cache.yaml must fill the very volume the students mount, at the path
  their ``HF_HUB_CACHE`` names, with the course's own ``prefetch --cache-dir``.
- deploy/jupyterhub/jupyterhub_config.py must load, and every trait it sets must exist.
- binder/ must hold what repo2docker reads, and its start script must choose demo mode only
  where no class cache is mounted.
"""

from __future__ import annotations

import copy
import importlib
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "kubernetes"
HUB = ROOT / "deploy" / "jupyterhub"
CHART = Path(__file__).resolve().parent / "data" / "z2jh-4.4.0"
CHART_JUPYTERHUB_MAJOR = 5  # chart 4.4.0's appVersion is JupyterHub 5.5.0


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def helm_merge(defaults, overrides):
    """helm's rule for --values: mappings merge key by key, anything else (lists included) is replaced."""
    if isinstance(defaults, dict) and isinstance(overrides, dict):
        merged = dict(defaults)
        for key, value in overrides.items():
            merged[key] = helm_merge(defaults[key], value) if key in defaults else copy.deepcopy(value)
        return merged
    return copy.deepcopy(overrides)


def schema_errors(values) -> list[str]:
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    merged = helm_merge(load_yaml(CHART / "values.yaml"), values)
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(merged)]


@pytest.fixture(scope="module")
def values():
    return load_yaml(K8S / "values.yaml")


@pytest.fixture(scope="module")
def cache_manifests():
    return {doc["kind"]: doc for doc in yaml.safe_load_all((K8S / "model-cache.yaml").read_text())}


# --------------------------------------------------------------------------- Zero to JupyterHub


def test_the_vendored_schema_is_the_charts_and_accepts_its_defaults():
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False and "singleuser" in schema["properties"]
    assert schema_errors({}) == []
    assert "BSD 3-Clause" in (CHART / "LICENSE").read_text()


def test_values_validate_against_the_chart_schema(values):
    assert schema_errors(values) == []


@pytest.mark.parametrize(
    "typo",
    [
        {"singleuser": {"memroy": {"limit": "12G"}}},
        {"cull": {"timout": 3600}},
        {"singleuser": {"storage": {"extraVolumeMount": []}}},
        {"singleuser": {"cpu": {"limit": "two"}}},
    ],
)
def test_a_misspelt_or_mistyped_key_fails_the_same_check(values, typo):
    assert schema_errors(helm_merge(values, typo)), f"{typo} was accepted"


def trait_names(dotted: str) -> set[str]:
    module, _, name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return set(cls.class_traits(config=True))


HUB_CONFIG_CLASSES = {
    "JupyterHub": "jupyterhub.app.JupyterHub",
    "Authenticator": "jupyterhub.auth.Authenticator",
    "NativeAuthenticator": "nativeauthenticator.NativeAuthenticator",
}


def test_hub_config_keys_are_traits_of_their_classes(values):
    config = values["hub"]["config"]
    assert set(config) <= set(HUB_CONFIG_CLASSES), f"no class known for {set(config) - set(HUB_CONFIG_CLASSES)}"
    for section, keys in config.items():
        unknown = set(keys) - trait_names(HUB_CONFIG_CLASSES[section])
        assert not unknown, f"hub.config.{section} has no such traits: {unknown}"
    auth = config["JupyterHub"]["authenticator_class"]
    assert auth == HUB_CONFIG_CLASSES["NativeAuthenticator"]
    importlib.import_module(auth.rpartition(".")[0])


def test_profile_overrides_are_kubespawner_traits(values):
    known = trait_names("kubespawner.KubeSpawner")
    for profile in values["singleuser"]["profileList"]:
        unknown = set(profile["kubespawner_override"]) - known
        assert not unknown, f"profile {profile['display_name']!r}: KubeSpawner has no {unknown}"


def test_gpu_profile_memory_shm_cache_culling_and_pulling(values, cache_manifests):
    single = values["singleuser"]
    gpu = next(p for p in single["profileList"] if p.get("default"))
    assert gpu["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert gpu["kubespawner_override"]["mem_limit"] and single["memory"]["limit"]
    volumes = {v["name"]: v for v in single["storage"]["extraVolumes"]}
    mounts = {m["mountPath"]: m for m in single["storage"]["extraVolumeMounts"]}
    shm = volumes[mounts["/dev/shm"]["name"]]
    assert shm["emptyDir"]["medium"] == "Memory"
    env = single["extraEnv"]
    cache_mount = mounts[env["HF_HUB_CACHE"]]
    cache_volume = volumes[cache_mount["name"]]
    assert cache_mount["readOnly"] is True and cache_volume["persistentVolumeClaim"]["readOnly"] is True
    assert (
        cache_volume["persistentVolumeClaim"]["claimName"]
        == cache_manifests["PersistentVolumeClaim"]["metadata"]["name"]
    )
    assert env["HF_HUB_OFFLINE"] == "1" and env["COURSE_SHARED_CACHE"] == "1"
    assert env["HF_TOKEN_PATH"].startswith("/home/jovyan/")  # the chart's home: each student's own volume
    assert float(env["COURSE_GPU_MEMORY_GB"]) > 0
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0
    assert single["lifecycleHooks"]["postStart"]["exec"]["command"][0] == "gitpuller"


def test_the_prefetch_job_fills_the_volume_students_mount(values, cache_manifests):
    from extras_and_licenses.__main__ import main

    pvc, job = cache_manifests["PersistentVolumeClaim"], cache_manifests["Job"]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (volume,) = pod["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    (mount,) = container["volumeMounts"]
    assert mount["name"] == volume["name"] and not mount.get("readOnly")
    command = container["command"]
    assert command[:4] == ["python", "-m", "extras_and_licenses", "prefetch"]
    assert (
        command[command.index("--cache-dir") + 1]
        == mount["mountPath"]
        == values["singleuser"]["extraEnv"]["HF_HUB_CACHE"]
    )
    assert main([*command[3:], "--check"]) in (0, 1)  # the course's CLI takes these arguments (report only)


# --------------------------------------------------------------------------- the one-machine hub


def load_hub_config(environ: dict):
    from traitlets.config.loader import PyFileConfigLoader

    old = {k: os.environ.get(k) for k in environ}
    os.environ.update(environ)
    try:
        return PyFileConfigLoader("jupyterhub_config.py", path=str(HUB)).load_config()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


SECTIONS = {
    "JupyterHub": "jupyterhub.app.JupyterHub",
    "Authenticator": "jupyterhub.auth.Authenticator",
    "NativeAuthenticator": "nativeauthenticator.NativeAuthenticator",
    "Spawner": "jupyterhub.spawner.Spawner",
    "SystemdSpawner": "systemdspawner.SystemdSpawner",
}


def test_hub_config_loads_and_sets_only_real_traits():
    config = load_hub_config({})
    assert set(config) <= set(SECTIONS), set(config) - set(SECTIONS)
    for section, settings in config.items():
        unknown = set(settings) - trait_names(SECTIONS[section])
        assert not unknown, f"{section} has no traits {unknown}"
    for key in ("authenticator_class", "spawner_class"):
        dotted = config.JupyterHub[key]
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted


def test_hub_config_gives_students_the_shared_cache_the_cap_and_limits(tmp_path):
    from jupyterhub.scopes import scope_definitions

    cache = str(tmp_path / "cache")
    config = load_hub_config(
        {"COURSE_HUB_SHARED_CACHE": cache, "COURSE_HUB_GPU_MEMORY_GB": "5", "COURSE_HUB_ADMINS": "ann, bo"}
    )
    env = config.Spawner.environment
    assert env["HF_HUB_CACHE"] == cache and env["HF_HUB_OFFLINE"] == "1" and env["COURSE_SHARED_CACHE"] == "1"
    assert env["COURSE_GPU_MEMORY_GB"] == "5" and env["HF_TOKEN_PATH"].startswith("~/")
    assert cache in config.SystemdSpawner.readonly_paths
    assert config.SystemdSpawner.isolate_devices is False  # the GPU stays visible
    assert config.Spawner.mem_limit and config.Spawner.cpu_limit
    assert config.Authenticator.admin_users == {"ann", "bo"}
    (culler,) = config.JupyterHub.services
    assert culler["command"][1:3] == ["-m", "jupyterhub_idle_culler"]
    importlib.import_module("jupyterhub_idle_culler")
    (role,) = config.JupyterHub.load_roles
    assert role["services"] == [culler["name"]]
    assert set(role["scopes"]) <= set(scope_definitions), set(role["scopes"]) - set(scope_definitions)


def test_both_deployments_give_students_the_same_course_environment(values):
    hub_env = load_hub_config({}).Spawner.environment
    k8s_env = values["singleuser"]["extraEnv"]
    for key in ("HF_HUB_OFFLINE", "COURSE_SHARED_CACHE", "COURSE_GPU_MEMORY_GB", "HF_TOKEN_PATH", "HF_HUB_CACHE"):
        assert key in hub_env and key in k8s_env, key
    assert hub_env["HF_HUB_OFFLINE"] == k8s_env["HF_HUB_OFFLINE"] == "1"
    assert hub_env["COURSE_GPU_MEMORY_GB"] == k8s_env["COURSE_GPU_MEMORY_GB"]


# --------------------------------------------------------------------------- the link


def course_link_module():
    sys.path.insert(0, str(HUB))
    try:
        return importlib.import_module("course_link")
    finally:
        sys.path.pop(0)


def test_the_link_opens_a_lesson_through_nbgitpuller():
    link = course_link_module().course_link("https://hub.example.org/", "https://github.com/o/r", lesson="01")
    parsed = urllib.parse.urlparse(link)
    assert parsed.path == "/hub/user-redirect/git-pull"
    query = dict(urllib.parse.parse_qsl(parsed.query))
    assert query == {
        "repo": "https://github.com/o/r",
        "branch": "main",
        "targetpath": "encoder-decoders",
        "urlpath": "lab/tree/encoder-decoders/notebooks/01_encoder_decoders.ipynb",
    }


def test_the_link_command_refuses_bad_input_with_the_fix():
    script = HUB / "course_link.py"
    bad_hub = subprocess.run(
        [sys.executable, script, "--hub", "hub.example.org", "--repo", "x"], capture_output=True, text=True
    )
    assert bad_hub.returncode != 0 and "starting with https://" in bad_hub.stderr
    bad_lesson = subprocess.run(
        [sys.executable, script, "--hub", "https://h", "--repo", "x", "--lesson", "42"], capture_output=True, text=True
    )
    assert bad_lesson.returncode != 0 and "01_encoder_decoders" in bad_lesson.stderr
    good = subprocess.run(
        [sys.executable, script, "--hub", "https://h", "--repo", "file:///srv/course.git"],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0 and good.stdout.startswith("https://h/hub/user-redirect/git-pull?repo=file%3A")


# --------------------------------------------------------------------------- binder/ (repo2docker)


def test_binder_holds_what_repo2docker_reads():
    binder = ROOT / "binder"
    lines = [line.split("#")[0].strip() for line in (binder / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert "-r ../requirements.txt" in lines
    hub_pin = next(line for line in lines if line.startswith("jupyterhub"))
    assert f">={CHART_JUPYTERHUB_MAJOR}." in hub_pin and f"<{CHART_JUPYTERHUB_MAJOR + 1}" in hub_pin
    assert any(line.startswith("nbgitpuller") for line in lines)
    assert (binder / "runtime.txt").read_text().strip().startswith("python-3.")
    for script in ("postBuild", "start"):
        assert os.access(binder / script, os.X_OK), f"binder/{script} must be executable"
    assert "pip install" in (binder / "postBuild").read_text()


@pytest.mark.parametrize(
    "environ, demo",
    [({}, "1"), ({"COURSE_SHARED_CACHE": "1"}, None), ({"COURSE_DEMO_MODE": "0"}, "0")],
)
def test_binder_start_picks_demo_mode_only_without_a_class_cache(environ, demo):
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_SHARED_CACHE", "COURSE_DEMO_MODE")}
    env.update(environ)
    out = subprocess.run(
        [str(ROOT / "binder" / "start"), sys.executable, "-c", "import os; print(os.environ.get('COURSE_DEMO_MODE'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == str(demo)


def test_the_systemd_unit_sets_only_settings_the_hub_config_reads():
    import re

    unit = (HUB / "jupyterhub.service").read_text()
    config = (HUB / "jupyterhub_config.py").read_text()
    read = set(re.findall(r'setting\("(COURSE_HUB_[A-Z_]+)"', config)) | set(
        re.findall(r'"(COURSE_HUB_SSL_[A-Z]+)"', config)
    )
    names = set(re.findall(r"^Environment=(COURSE_HUB_[A-Z_]+)=", unit, re.MULTILINE))
    assert names and names <= read, f"the unit sets settings the config never reads: {names - read}"
    (exec_start,) = re.findall(r"^ExecStart=(.+)$", unit, re.MULTILINE)
    assert exec_start.split()[-1].endswith("deploy/jupyterhub/jupyterhub_config.py")
