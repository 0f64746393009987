#!/usr/bin/env python3
"""What a kubelet would run for the chart's Deployment, as bash variables.

scripts/image-test.sh renders the chart, converts its Deployment to JSON
(kubectl) and asks this script how its one container runs: image, command,
args, environment, user, security settings, memory limit, probes. It prints
bash assignments (source them) for two runners: podman flags, and the plain
facts the unshare fallback applies itself.

Anything in the pod template this test does not reproduce (volumes, envFrom,
an env source other than the pod's name and namespace, an unknown security
setting, ...) is an error, so a chart change cannot make the test run
something else than what the chart deploys without failing here first.

    image-test-pod.py DEPLOYMENT.json SERVICES.json --namespace NS \
        --pod-name NAME --apiserver-host HOST --apiserver-port PORT \
        --service-account-dir DIR
"""

import argparse
import json
import re
import shlex
import sys

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"

# Fields of the pod template this test reproduces, or that do not change how
# the process runs (scheduling, labels, the image pull policy, ...).
POD_SPEC_KEYS = {
    "containers", "serviceAccountName", "serviceAccount", "securityContext",
    "priorityClassName", "nodeSelector", "tolerations", "affinity",
    "imagePullSecrets", "terminationGracePeriodSeconds", "restartPolicy",
    "dnsPolicy", "schedulerName", "enableServiceLinks",
    "automountServiceAccountToken",
}
CONTAINER_KEYS = {
    "name", "image", "imagePullPolicy", "command", "args", "env", "ports",
    "livenessProbe", "readinessProbe", "resources", "securityContext",
    "terminationMessagePath", "terminationMessagePolicy",
}
POD_SECURITY_KEYS = {"runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile"}
CONTAINER_SECURITY_KEYS = POD_SECURITY_KEYS | {
    "allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities",
    "privileged",
}
QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?[0-9]+)?)([a-zA-Z]*)$")
SUFFIX = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
    "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
    "Pi": 2**50, "Ei": 2**60,
}


def fail(msg):
    print(f"image-test-pod: {msg}", file=sys.stderr)
    sys.exit(1)


def unknown(what, obj, allowed):
    extra = sorted(set(obj) - allowed)
    if extra:
        fail(f"{what} has {extra}, which this test does not reproduce; "
             "teach scripts/image-test-pod.py what the kubelet does with it")


def quantity(text):
    m = QUANTITY.match(str(text))
    if not m or m.group(2) not in SUFFIX:
        fail(f"cannot read the quantity {text!r}")
    return float(m.group(1)) * SUFFIX[m.group(2)]


def env_name(service):
    return service.upper().replace("-", "_")


def service_env(services):
    """The variables the kubelet adds for each Service of the namespace
    (enableServiceLinks), as pkg/kubelet/envvars does."""
    env = {}
    for svc in services:
        spec = svc.get("spec", {})
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue
        ports = spec.get("ports") or []
        if not ports:
            continue
        name = env_name(svc["metadata"]["name"])
        first = ports[0]
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(first["port"])
        for p in ports:
            if p.get("name"):
                env[f"{name}_SERVICE_PORT_{env_name(p['name'])}"] = str(p["port"])
        proto = first.get("protocol", "TCP").lower()
        env[f"{name}_PORT"] = f"{proto}://{ip}:{first['port']}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            prefix = f"{name}_PORT_{p['port']}_{proto.upper()}"
            env[prefix] = f"{proto.lower()}://{ip}:{p['port']}"
            env[f"{prefix}_PROTO"] = proto.lower()
            env[f"{prefix}_PORT"] = str(p["port"])
            env[f"{prefix}_ADDR"] = ip
    return env


def expand(text, env):
    """$(VAR) references in command, args and env values; $$ escapes."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, text)


def probe_path(container, kind, ports):
    probe = container.get(kind)
    if not probe:
        return "", 0
    get = probe.get("httpGet")
    if not get or set(probe) - {"httpGet", "initialDelaySeconds", "periodSeconds",
                                "timeoutSeconds", "successThreshold",
                                "failureThreshold"}:
        fail(f"{kind} is not an httpGet probe: {probe}")
    if get.get("scheme", "HTTP") != "HTTP":
        fail(f"{kind} scheme {get.get('scheme')} is not reproduced")
    port = get["port"]
    if isinstance(port, str):
        if port not in ports:
            fail(f"{kind} names port {port!r}, which the container does not have")
        port = ports[port]
    return get.get("path", "/"), int(port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("deployment")
    ap.add_argument("services")
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--pod-name", required=True)
    ap.add_argument("--apiserver-host", required=True)
    ap.add_argument("--apiserver-port", required=True, type=int)
    ap.add_argument("--service-account-dir", required=True)
    a = ap.parse_args()

    with open(a.deployment) as f:
        deploy = json.load(f)
    with open(a.services) as f:
        services = json.load(f).get("items", [])
    if deploy.get("kind") != "Deployment":
        fail(f"{a.deployment} is a {deploy.get('kind')}, not a Deployment")
    pod = deploy["spec"]["template"]["spec"]
    unknown("the pod spec", pod, POD_SPEC_KEYS)
    if len(pod["containers"]) != 1:
        fail(f"expected one container, found {len(pod['containers'])}")
    c = pod["containers"][0]
    unknown("the container", c, CONTAINER_KEYS)

    psc = pod.get("securityContext", {})
    csc = c.get("securityContext", {})
    unknown("the pod securityContext", psc, POD_SECURITY_KEYS)
    unknown("the container securityContext", csc, CONTAINER_SECURITY_KEYS)
    sec = {**psc, **csc}  # the container's settings win
    if sec.get("privileged"):
        fail("a privileged container is not reproduced")
    seccomp = sec.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp != "RuntimeDefault":
        fail(f"seccompProfile {seccomp} is not reproduced (podman's default is RuntimeDefault)")
    if "runAsUser" not in sec:
        fail("no runAsUser: the image's USER would apply; set it in the chart")
    uid = int(sec["runAsUser"])
    gid = int(sec.get("runAsGroup", uid))
    if sec.get("runAsNonRoot") and uid == 0:
        fail("runAsNonRoot with runAsUser 0: the kubelet would refuse to start it")
    caps = sec.get("capabilities", {})
    unknown("capabilities", caps, {"drop", "add"})
    drop = [d.upper() for d in caps.get("drop", [])]
    add = [x.upper() for x in caps.get("add", [])]
    no_new_privs = sec.get("allowPrivilegeEscalation") is False
    read_only = bool(sec.get("readOnlyRootFilesystem"))

    # The environment: service links, the API server, then the container's
    # own variables (which win), as the kubelet orders them.
    env = {}
    if pod.get("enableServiceLinks", True):
        env.update(service_env(services))
    env.update(service_env([{
        "metadata": {"name": "kubernetes"},
        "spec": {"clusterIP": a.apiserver_host,
                 "ports": [{"name": "https", "port": a.apiserver_port}]},
    }]))
    env["HOSTNAME"] = a.pod_name
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = expand(e["value"], env)
            continue
        ref = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if ref == "metadata.namespace":
            env[e["name"]] = a.namespace
        elif ref == "metadata.name":
            env[e["name"]] = a.pod_name
        else:
            fail(f"env {e['name']} comes from {e.get('valueFrom')}, which is not reproduced")

    command = [expand(x, env) for x in c.get("command", [])]
    args = [expand(x, env) for x in c.get("args", [])]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", []) if p.get("name")}
    ready_path, ready_port = probe_path(c, "readinessProbe", ports)
    live_path, live_port = probe_path(c, "livenessProbe", ports)
    if not ready_path:
        fail("the container has no readinessProbe to wait for")

    limits = c.get("resources", {}).get("limits", {})
    unknown("resources.limits", limits, {"memory", "cpu"})
    memory = int(quantity(limits["memory"])) if "memory" in limits else 0
    cpus = quantity(limits["cpu"]) if "cpu" in limits else 0

    mount_sa = pod.get("automountServiceAccountToken", True)
    grace = int(pod.get("terminationGracePeriodSeconds", 30))

    flags = ["--network=host", f"--hostname={a.pod_name}", f"--user={uid}:{gid}",
             "--pull=never", f"--stop-timeout={grace}"]
    if read_only:
        # Kubernetes mounts no tmpfs on /tmp, /var/tmp or /run; podman would.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    flags += [f"--cap-drop={d}" for d in drop]
    flags += [f"--cap-add={x}" for x in add]
    if no_new_privs:
        flags.append("--security-opt=no-new-privileges")
    if memory:
        flags.append(f"--memory={memory}")
    if cpus:
        flags.append(f"--cpus={cpus:g}")
    if mount_sa:
        flags.append(f"--volume={a.service_account_dir}:{SA_MOUNT}:ro")
    if command:
        flags.append(f"--entrypoint={json.dumps(command)}")
    for k, v in env.items():
        flags.append(f"--env={k}={v}")

    def arr(name, items):
        print(f"{name}=({' '.join(shlex.quote(str(x)) for x in items)})")

    def var(name, value):
        print(f"{name}={shlex.quote(str(value))}")

    var("pod_image", c["image"])
    arr("pod_podman_flags", flags)
    arr("pod_command", command)
    arr("pod_args", args)
    arr("pod_env", [f"{k}={v}" for k, v in env.items()])
    var("pod_uid", uid)
    var("pod_gid", gid)
    var("pod_read_only", int(read_only))
    var("pod_no_new_privs", int(no_new_privs))
    arr("pod_cap_drop", drop)
    arr("pod_cap_add", add)
    var("pod_memory_limit", memory)
    var("pod_mount_sa", int(mount_sa))
    var("pod_service_account", pod.get("serviceAccountName", "default"))
    var("pod_ready_path", ready_path)
    var("pod_ready_port", ready_port)
    var("pod_live_path", live_path)
    var("pod_live_port", live_port)
    var("pod_grace", grace)


if __name__ == "__main__":
    main()
