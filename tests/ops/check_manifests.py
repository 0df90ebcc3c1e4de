#!/usr/bin/env python3
"""Deployment files: what can be checked without a container engine.

The compose files and the Kubernetes manifests parse; every image is pinned
to a tag (never latest or none); the Dockerfile has a HEALTHCHECK on
/healthz; the Deployment's probes, scrape annotations and Secret mount agree
with the configuration it mounts; and every configuration the files mount
passes `sluice --check --offline`, with the Secret's values materialised
where the pod would see them.

The Deployment's configuration is checked as its pod would run it: the
Secret's files written as the kubelet writes them (owned by root, the
volume's defaultMode or the item's mode; with the pod's fsGroup the kubelet
gives them that group and adds read for it, 0440, to a read-only volume),
and sluice run as the pod's runAsUser/runAsGroup with fsGroup and
supplementalGroups as its supplementary groups (setpriv; needs root, else
the files are the test user's and that is said).

usage: check_manifests.py SOURCE_ROOT SLUICE_BINARY
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

root, sluice = sys.argv[1], os.path.abspath(sys.argv[2])
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def pinned(image, where):
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    if not tag or tag == "latest":
        fail(f"{where}: image {image} is not pinned to a tag")


AS_ROOT = os.geteuid() == 0


def offline_check(config_text, where, secrets=None, pod=None):
    """Run sluice --check --offline on @config_text; @secrets maps a mount
    directory to {file: (content, mode)}, relocated into a temporary
    directory.  @pod: the pod's securityContext, to mount and run as the
    kubelet would (as root only)."""
    pod = pod if AS_ROOT else None
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        fs_group = pod.get("fsGroup") if pod else None
        for mount, files in (secrets or {}).items():
            local = os.path.join(tmp, "mnt" + mount)
            os.makedirs(local, exist_ok=True)
            for fname, (content, mode) in files.items():
                fpath = os.path.join(local, fname)
                with open(fpath, "w") as f:
                    f.write(content)
                if pod is not None:
                    # the kubelet: root-owned, the manifest's mode; fsGroup
                    # as the group with read added (read-only volume)
                    os.chown(fpath, 0, fs_group if fs_group is not None else 0)
                    os.chmod(fpath, mode | 0o440 if fs_group is not None else mode)
                    if fs_group is not None:
                        os.chown(local, 0, fs_group)
                        os.chmod(local, 0o2755)
            config_text = config_text.replace("${file:" + mount, "${file:" + local)
        path = os.path.join(tmp, "sluice.yaml")
        with open(path, "w") as f:
            f.write(config_text)
        os.chmod(path, 0o644)  # a ConfigMap's default mode
        cmd = [sluice, "--check", "--offline", "-c", path]
        if pod is not None:
            uid = pod.get("runAsUser")
            if uid is None:
                fail(f"{where}: the pod sets no runAsUser: which user the image runs as is up to the image")
                return
            gid = pod.get("runAsGroup", 0)
            groups = ([fs_group] if fs_group is not None else []) + list(pod.get("supplementalGroups", []))
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}",
                   f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups",
                   "--no-new-privs", "--bounding-set=-all", "--"] + cmd
            where = f"{where} (as uid {uid} gid {gid} groups {groups or 'none'}, Secret files " + \
                ", ".join(f"{oct(os.stat(os.path.join(tmp, 'mnt' + m, f)).st_mode & 0o7777)} "
                          f"root:{os.stat(os.path.join(tmp, 'mnt' + m, f)).st_gid}"
                          for m, fs in (secrets or {}).items() for f in fs) + ")"
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"{where}: sluice --check --offline failed:\n{r.stdout}{r.stderr}")
        else:
            print(f"ok: {where}: {r.stdout.strip().splitlines()[-1]}")


# --- compose files ---------------------------------------------------------
for compose in ["docker/compose.yaml", "docker/debezium/compose.yaml"]:
    with open(os.path.join(root, compose)) as f:
        doc = yaml.safe_load(f)
    for name, svc in doc["services"].items():
        if "image" in svc:
            pinned(svc["image"], f"{compose} service {name}")
        elif "build" not in svc:
            fail(f"{compose} service {name}: neither image nor build")
        for port in svc.get("ports", []):
            # published ports on the loopback only: the demos' databases
            # have no real passwords
            if not str(port).startswith("127.0.0.1:"):
                fail(f"{compose} service {name}: port {port} is published on every interface")
        for vol in svc.get("volumes", []):
            src, _, dst = vol.partition(":")
            if dst.startswith("/etc/sluice/sluice.yaml"):
                with open(os.path.join(root, os.path.dirname(compose), src)) as f:
                    offline_check(f.read(), f"{compose} {src}")
    print(f"ok: {compose} parses, images pinned")

# --- Dockerfile ------------------------------------------------------------
with open(os.path.join(root, "docker/Dockerfile")) as f:
    dockerfile = f.read()
for m in re.finditer(r"^FROM\s+(\S+)", dockerfile, re.M):
    pinned(m.group(1), "docker/Dockerfile FROM")
hc = re.search(r"^HEALTHCHECK .*?CMD (.*)$", dockerfile, re.M | re.S)
if not hc or "/healthz" not in hc.group(1):
    fail("docker/Dockerfile: no HEALTHCHECK on /healthz")
if not re.search(r"apt-get( -y)? upgrade", dockerfile):
    fail("docker/Dockerfile: no apt-get upgrade: the base image's security fixes are not taken at build time")
with open(os.path.join(root, ".dockerignore")) as f:
    ignored = f.read().split()
for path in (".git", "build"):
    if path not in ignored:
        fail(f".dockerignore: {path} is sent to docker build")
for pkg in ["libmicrohttpd", "libsystemd", "curl"]:
    if pkg not in dockerfile:
        fail(f"docker/Dockerfile: {pkg} missing from the packages")

# --- Kubernetes ------------------------------------------------------------
kdir = os.path.join(root, "docker/kubernetes")
docs = []
for fname in sorted(os.listdir(kdir)):
    if fname.endswith(".yaml"):
        with open(os.path.join(kdir, fname)) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
by_kind = {}
for d in docs:
    for key in ("apiVersion", "kind", "metadata"):
        if key not in d:
            fail(f"kubernetes: a document without {key}")
    by_kind.setdefault(d["kind"], []).append(d)
for kind in ("ConfigMap", "Secret", "Deployment"):
    if kind not in by_kind:
        fail(f"kubernetes: no {kind}")
cm = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
secrets = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
with open(os.path.join(root, "meson.build")) as f:
    version = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)

for dep in by_kind.get("Deployment", []):
    spec = dep["spec"]["template"]["spec"]
    ann = dep["spec"]["template"]["metadata"].get("annotations", {})
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec["containers"]:
        where = f"Deployment {dep['metadata']['name']} container {c['name']}"
        pinned(c["image"], where)
        if c["image"].startswith("sluice:") and c["image"] != f"sluice:{version}":
            fail(f"{where}: image {c['image']} is not this release (sluice:{version})")
        mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        config_text, secret_files = None, {}
        for vname, path in mounts.items():
            v = volumes.get(vname)
            if not v:
                fail(f"{where}: mount {vname} has no volume")
                continue
            if "configMap" in v:
                data = cm[v["configMap"]["name"]]["data"]
                for item in v["configMap"].get("items", [{"key": k, "path": k} for k in data]):
                    if os.path.join(path, item["path"]) == "/etc/sluice/sluice.yaml":
                        config_text = data[item["key"]]
            if "secret" in v:
                s = secrets[v["secret"]["secretName"]]
                mode = v["secret"].get("defaultMode", 0o644)
                modes = {i["key"]: i.get("mode", mode) for i in v["secret"].get("items", [])}
                secret_files[path] = {k: (val, modes.get(k, mode)) for k, val in s.get("stringData", {}).items()}
        args = c.get("args", [])
        if "/etc/sluice/sluice.yaml" not in args or config_text is None:
            fail(f"{where}: does not run the mounted /etc/sluice/sluice.yaml")
            continue
        cfg = yaml.safe_load(config_text)
        listen = cfg.get("admin", {}).get("listen", "")
        port = int(listen.rsplit(":", 1)[1]) if listen else None
        if not port:
            fail(f"{where}: the mounted configuration has no admin.listen")
        if listen.startswith("127."):
            fail(f"{where}: admin.listen {listen} is not reachable by the kubelet")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = c.get(probe, {}).get("httpGet")
            if not get or get.get("path") != path:
                fail(f"{where}: {probe} is not an HTTP GET of {path}")
                continue
            p = get["port"]
            if ports.get(p, p) != port:
                fail(f"{where}: {probe} port {p} is not admin.listen's {port}")
        if ann.get("prometheus.io/scrape") != "true" or str(ann.get("prometheus.io/port")) != str(port):
            fail(f"{where}: scrape annotations do not point at port {port}")
        used = re.findall(r"\$\{file:([^}]+)\}", config_text)
        for u in used:
            d, fname = os.path.split(u)
            if fname not in secret_files.get(d, {}):
                fail(f"{where}: ${{file:{u}}} is not provided by a mounted Secret")
        grace = spec.get("terminationGracePeriodSeconds", 30)
        st = str(cfg.get("shutdown_timeout", "25s"))
        st_s = float(st[:-1]) if st.endswith("s") and not st.endswith("ms") else float(st.rstrip("ms")) / 1000
        if st_s >= grace:
            fail(f"{where}: shutdown_timeout {st} is not below terminationGracePeriodSeconds {grace}")
        pod = dict(spec.get("securityContext", {}))
        pod.update({k: v for k, v in c.get("securityContext", {}).items() if k in ("runAsUser", "runAsGroup")})
        offline_check(config_text, f"{where} ConfigMap", secret_files, pod)
    print(f"ok: Deployment {dep['metadata']['name']} probes, annotations, mounts")

if not AS_ROOT:
    print("note: not root: the Secret's files were the test user's, not mounted as the kubelet mounts them")
print(f"{len(failures)} failed" if failures else "all deployment files check out")
sys.exit(1 if failures else 0)
