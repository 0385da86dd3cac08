"""JupyterHub for a class on one GPU machine: the course's lessons, one shared model cache, a GPU cap per student.

Start it as root on the GPU machine (root is needed to start each student's server as a user of
its own), from the folder that holds the hub's state:

    cd /srv/jupyterhub && /opt/course/hub/bin/jupyterhub -f /opt/course/repo/deploy/jupyterhub/jupyterhub_config.py

docs/INSTRUCTORS.md is the walk-through (install, the day before, the link to hand out, what to
do when a kernel dies). The settings below come from the hub's environment, so the file itself
needs no edits; each one's default is in brackets.

- COURSE_HUB_COURSE_PREFIX [/opt/course/venv]: the course environment (requirements.txt, the
  course package, jupyterhub and nbgitpuller). Every student's JupyterLab and kernel run in it.
- COURSE_HUB_SHARED_CACHE [/srv/course/hf-cache]: the model cache the instructor fills once with
  `python -m extras_and_licenses prefetch --cache-dir ...`; students get it read-only.
- COURSE_HUB_GPU_MEMORY_GB [3]: each student's GPU memory cap (COURSE_GPU_MEMORY_GB in the kernel).
- COURSE_HUB_MEMORY_LIMIT [12G] and COURSE_HUB_CPU_LIMIT [2]: each student's RAM and CPU cores.
- COURSE_HUB_IDLE_TIMEOUT [3600]: seconds of inactivity before a student's server is stopped.
- COURSE_HUB_ADMINS [instructor]: comma-separated hub admins (they approve sign-ups).
- COURSE_HUB_BIND_URL [http://127.0.0.1:8000]: where the hub listens. Put a TLS reverse proxy
  (Caddy, nginx) in front for students, or give an https:// URL with COURSE_HUB_SSL_CERT/KEY.

Authenticator: NativeAuthenticator. Students sign up with a name and a password on the hub's
own page and an admin approves each one at /hub/authorize; nobody needs an account on the
machine. PAM would mean creating 20-40 Unix accounts (with shell logins to the GPU machine) and
handing out their passwords. For an institution's single sign-on, swap in an OAuthenticator.

Spawner: SystemdSpawner with dynamic users. Each student's server is a systemd unit running as a
throw-away Unix user with a private home under /var/lib/private, so again no accounts; systemd
ENFORCES the memory limit (MemoryMax) and the CPU limit (CPUQuota), keeps /tmp private per
student, and mounts the shared cache read-only in the unit (ReadOnlyPaths), so even a student
who tries cannot write to it. The GPU cap is not a cgroup limit: the course package enforces it
inside each kernel (extras_and_licenses/gpu_cap.py). LocalProcessSpawner, the default, enforces
none of these limits.
"""

import os
import sys

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file


def setting(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


COURSE_PREFIX = setting("COURSE_HUB_COURSE_PREFIX", "/opt/course/venv")
SHARED_CACHE = setting("COURSE_HUB_SHARED_CACHE", "/srv/course/hf-cache")
GPU_MEMORY_GB = setting("COURSE_HUB_GPU_MEMORY_GB", "3")
MEMORY_LIMIT = setting("COURSE_HUB_MEMORY_LIMIT", "12G")
CPU_LIMIT = setting("COURSE_HUB_CPU_LIMIT", "2")
IDLE_TIMEOUT = setting("COURSE_HUB_IDLE_TIMEOUT", "3600")
ADMINS = {name.strip() for name in setting("COURSE_HUB_ADMINS", "instructor").split(",") if name.strip()}

# --------------------------------------------------------------------------- the hub
c.JupyterHub.bind_url = setting("COURSE_HUB_BIND_URL", "http://127.0.0.1:8000")
if os.environ.get("COURSE_HUB_SSL_CERT"):
    c.JupyterHub.ssl_cert = os.environ["COURSE_HUB_SSL_CERT"]
    c.JupyterHub.ssl_key = os.environ["COURSE_HUB_SSL_KEY"]
c.JupyterHub.cookie_secret_file = "jupyterhub_cookie_secret"  # in the folder the hub starts in
c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
# Restarting the hub (a config change mid-class) leaves the students' servers and kernels running;
# at the end of the class, stop them from the admin page (/hub/admin, "Stop All").
c.JupyterHub.cleanup_servers = False
c.JupyterHub.active_server_limit = 45  # a class of 40 and a few instructors
c.JupyterHub.concurrent_spawn_limit = 20  # everybody clicking the link at 9:00

# --------------------------------------------------------------------------- who may log in
c.JupyterHub.authenticator_class = "nativeauthenticator.NativeAuthenticator"
c.Authenticator.admin_users = ADMINS
c.NativeAuthenticator.allow_all = True  # everyone an admin approved: approval is the gate
c.NativeAuthenticator.open_signup = False  # an admin approves each sign-up at /hub/authorize
c.NativeAuthenticator.minimum_password_length = 8
c.NativeAuthenticator.check_common_password = True
c.NativeAuthenticator.allowed_failed_logins = 5
c.NativeAuthenticator.seconds_before_next_try = 120

# --------------------------------------------------------------------------- each student's server
c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
c.Spawner.cmd = [os.path.join(COURSE_PREFIX, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.mem_limit = MEMORY_LIMIT
c.Spawner.cpu_limit = float(CPU_LIMIT)
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60
c.SystemdSpawner.dynamic_users = True  # a throw-away Unix user per student, home in /var/lib/private
c.SystemdSpawner.readonly_paths = [SHARED_CACHE]
c.SystemdSpawner.isolate_tmp = True
c.SystemdSpawner.isolate_devices = False  # True would hide the GPU (/dev/nvidia*) from the students
c.SystemdSpawner.disable_user_sudo = True
c.SystemdSpawner.extra_paths = [os.path.join(COURSE_PREFIX, "bin")]
c.SystemdSpawner.unit_extra_properties = {"MemorySwapMax": "0"}  # past the limit: the kernel dies, no swapping

# What every student's JupyterLab and kernels see. HF_HUB_OFFLINE=1 keeps huggingface_hub from
# writing refs, lock files or .no_exist markers into the shared cache (huggingface_hub issues
# #2580, #2797); HF_HOME and HF_TOKEN_PATH are the student's own (~ is the student's home).
c.Spawner.environment = {
    "HF_HUB_CACHE": SHARED_CACHE,
    "HF_HUB_OFFLINE": "1",
    "COURSE_SHARED_CACHE": "1",
    "HF_HOME": "~/.cache/huggingface",
    "HF_TOKEN_PATH": "~/.cache/huggingface/token",
    "COURSE_GPU_MEMORY_GB": GPU_MEMORY_GB,
    "OMP_NUM_THREADS": str(max(1, int(float(CPU_LIMIT)))),
    "TOKENIZERS_PARALLELISM": "false",
}

# --------------------------------------------------------------------------- idle culling
# A server idle for IDLE_TIMEOUT seconds is stopped (its notebooks stay in the student's home);
# the student starts it again from the link. Users themselves are never deleted.
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={IDLE_TIMEOUT}",
            "--cull-every=300",
            "--concurrency=5",
        ],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
