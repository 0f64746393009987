#!/usr/bin/env bash
# The image that ships is the image that is tested: build the operator image
# offline (scripts/image.sh), then run it as the chart's Deployment would
# against the local control plane, through the in-cluster configuration path,
# and check that it becomes ready and evicts a pod that violates a taint.
#
#   scripts/image-test.sh        (make image-test)
#
# 1. Builds the image (Dockerfile target `prebuilt`) under a unique tag.
# 2. Renders the chart (helm template) with that image, a free metrics port
#    and no default policy; applies everything but the Deployment (CRD,
#    ServiceAccount, RBAC, Service) into a fresh namespace; turns the
#    Deployment into what a kubelet would run (scripts/image-test-pod.py:
#    args, env with service links and fieldRefs, user 65532, read-only root
#    file system, capabilities dropped, no privilege escalation, memory
#    limit), refusing anything it cannot reproduce.
# 3. Mounts a ServiceAccount token (`kubectl create token`), the namespace's
#    kube-root-ca.crt and the namespace read-only at
#    /var/run/secrets/kubernetes.io/serviceaccount, with
#    KUBERNETES_SERVICE_HOST/PORT naming the local apiserver (its serving
#    certificate is valid for 127.0.0.1), and runs the container with podman
#    (--network=host). It checks the running process' uid, gid, capability
#    sets, no_new_privs, seccomp and read-only root from /proc.
# 4. Waits (with a deadline) for /readyz 200 and prints the start-up time;
#    two pods of a Deployment run on a kwok node that is then tainted
#    NoSchedule; a RemovePodsViolatingNodeTaints policy must evict both (the
#    apiserver's audit log must show the evictions made by the
#    ServiceAccount), their replacements must run on the other node, and the
#    container must still be running and live.
# 5. Cleans up everything it created (container, image, namespace, nodes,
#    cluster-scoped objects; the cluster if it started it) and exits
#    non-zero with the container's log on any failure.
#
# Runners (IMAGE_TEST_RUNNER):
#   podman   podman run. In sandboxes without CAP_SYS_RESOURCE or with a
#            hybrid cgroup hierarchy, crun cannot start containers; the
#            script then retries with explicit ulimits and runc and says why.
#   unshare  the same binary, taken from the image's root file system, under
#            unshare (mount and pid namespaces) and capsh: chroot into a
#            read-only copy of the image, the ServiceAccount directory bound
#            read-only, uid/gid 65532, empty bounding set, no_new_privs, the
#            same environment. For hosts where podman cannot run containers.
#            Without a container runtime there is no seccomp filter and no
#            memory limit; everything else is checked the same way.
#   auto     (default) podman if a container can run here, else unshare.
#
# Environment:
#   IMAGE_TEST_TIMEOUT  seconds for each wait (default 120)
#   IMAGE_TEST_IMAGE    test this image instead of building one (kept)
#   IMAGE_TEST_KEEP=1   keep the namespace, nodes and container on failure
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
bin="${root}/.cache/bin"
cluster="${root}/tests/e2e/cluster"
kubeconfig="${root}/.cache/cluster/kubeconfig"
timeout="${IMAGE_TEST_TIMEOUT:-120}"
runner="${IMAGE_TEST_RUNNER:-auto}"

say() { echo "image-test: $*"; }
die() { echo "image-test: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
k() { "${bin}/kubectl" --kubeconfig "${kubeconfig}" "$@"; }

case "${runner}" in auto|podman|unshare) ;; *) die "IMAGE_TEST_RUNNER must be auto, podman or unshare";; esac
for tool in podman curl python3 openssl; do
  command -v "${tool}" >/dev/null || die "'${tool}' is required (apt-get install ${tool})"
done
[[ "${runner}" != unshare ]] || for tool in unshare capsh; do
  command -v "${tool}" >/dev/null || die "'${tool}' is required for IMAGE_TEST_RUNNER=unshare"
done
[[ -x "${bin}/helm" ]] || die "${bin}/helm not found; run 'make install-tools-build'"

id="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
ns="image-test-${id}"
release="descheduler-${id}"         # the chart's full name is the release name
repo="localhost/descheduler-image-test"
image="${IMAGE_TEST_IMAGE:-${repo}:${id}}"
container="${release}"
pod_name="${release}-7d9f8b6c5-${id:0:5}"  # shaped like a ReplicaSet's pod
policy="${ns}-taints"
taint_key="image-test.descheduler.dev/taint"
pool_label="e2e.descheduler.dev/pool"
work="$(mktemp -d "${TMPDIR:-/tmp}/descheduler-image-test.XXXXXX")"
sa_dir="${work}/serviceaccount"
sa_mount=/var/run/secrets/kubernetes.io/serviceaccount

started_cluster=0
created_crd=0
built_image=0
ran=""              # podman | unshare, once something was started
run_pid=""          # the unshare runner's pid
passed=0

# --- cleanup -------------------------------------------------------------------
cleanup() {
  local rc=$?
  set +e
  if [[ "${passed}" != 1 ]]; then
    echo "image-test: ---- diagnostics" >&2
    if [[ "${ran}" == podman ]]; then
      podman logs --tail 40 "${container}" >&2 2>&1
    elif [[ -f "${work}/operator.log" ]]; then
      tail -n 40 "${work}/operator.log" >&2
    fi
    k get deschedulerpolicy "${policy}" -o jsonpath='{.status}' >&2 2>/dev/null && echo >&2
    k get pods -n "${ns}" -o wide >&2 2>/dev/null
  fi
  if [[ "${passed}" != 1 && "${IMAGE_TEST_KEEP:-0}" == 1 ]]; then
    say "IMAGE_TEST_KEEP=1: keeping namespace ${ns}, its nodes, container ${container} and ${work}"
    return "${rc}"
  fi
  if [[ "${ran}" == podman ]]; then
    podman rm -f -t 5 "${container}" >/dev/null 2>&1
  elif [[ -n "${run_pid}" ]]; then
    kill -TERM "${run_pid}" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "${run_pid}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${run_pid}" 2>/dev/null
    wait "${run_pid}" 2>/dev/null
  fi
  if [[ -f "${kubeconfig}" ]]; then
    k delete deschedulerpolicy "${policy}" --ignore-not-found --wait=false >/dev/null 2>&1
    k delete namespace "${ns}" --ignore-not-found --timeout=60s >/dev/null 2>&1
    k delete node -l "${pool_label}=${ns}" --ignore-not-found >/dev/null 2>&1
    k delete clusterrole,clusterrolebinding -l "app.kubernetes.io/instance=${release}" \
      --ignore-not-found >/dev/null 2>&1
    if [[ "${created_crd}" == 1 ]]; then
      k delete crd deschedulerpolicies.descheduler.dev --ignore-not-found >/dev/null 2>&1
    fi
  fi
  [[ "${built_image}" == 1 ]] && podman rmi -f "${image}" >/dev/null 2>&1
  rm -rf "${work}"
  [[ "${started_cluster}" == 1 ]] && "${cluster}/down.sh" >/dev/null 2>&1
  if [[ "${rc}" != 0 ]]; then
    echo "image-test: FAILED (exit ${rc})" >&2
  fi
  return "${rc}"
}
trap cleanup EXIT

# wait_until DESCRIPTION COMMAND...: polls COMMAND until it succeeds or the
# deadline passes; fails if the operator has exited meanwhile.
wait_until() {
  local what="$1"; shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    operator_alive || die "the operator exited while waiting for ${what}"
    ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for ${what}"
    sleep 0.2
  done
}
operator_alive() {
  case "${ran}" in
    podman) [[ "$(podman inspect --format '{{.State.Running}}' "${container}" 2>/dev/null)" == true ]] ;;
    unshare) kill -0 "${run_pid}" 2>/dev/null ;;
    *) true ;;
  esac
}

# --- the cluster ---------------------------------------------------------------
if ! { [[ -f "${kubeconfig}" ]] && k get --raw /readyz >/dev/null 2>&1; }; then
  say "starting the local control plane"
  started_cluster=1
  "${cluster}/up.sh" >"${work}/cluster-up.log" 2>&1 || { cat "${work}/cluster-up.log" >&2; die "cluster-up"; }
fi
# shellcheck disable=SC1091
source "${root}/.cache/cluster/env"
api_port="${APISERVER_URL##*:}"
api_host=127.0.0.1   # a SAN of the apiserver's serving certificate (up.sh)

# --- the image -----------------------------------------------------------------
if [[ -z "${IMAGE_TEST_IMAGE:-}" ]]; then
  t0="$(now)"
  built_image=1
  "${root}/scripts/image.sh" "${image}"
  build="build $(elapsed "${t0}" "$(now)")s"
else
  build="given by IMAGE_TEST_IMAGE, not built"
fi
image_size="$(podman image inspect --format '{{.Size}}' "${image}")" || die "no image ${image}"
image_user="$(podman image inspect --format '{{.Config.User}}' "${image}")"
[[ "${image_user}" == 65532:65532 ]] || die "the image's USER is '${image_user}', not 65532:65532"

# --- the chart -----------------------------------------------------------------
source "${cluster}/lib.sh"
take_ports metrics_port
k get crd deschedulerpolicies.descheduler.dev >/dev/null 2>&1 || created_crd=1
"${bin}/helm" template "${release}" charts/descheduler --namespace "${ns}" --include-crds \
  --set "image.repository=${image%:*}" --set "image.tag=${image##*:}" \
  --set "metrics.port=${metrics_port}" --set "policies.default=null" \
  >"${work}/chart.yaml"
# Every document but the Deployment is applied; the Deployment is run here.
python3 - "${work}/chart.yaml" "${work}/objects.yaml" "${work}/deployment.yaml" <<'PY'
import re, sys
src, objects, deployment = sys.argv[1:]
docs = re.split(r"(?m)^---\s*$", open(src).read())
rest, deploy = [], []
for d in docs:
    if not d.strip():
        continue
    (deploy if "# Source: descheduler/templates/deployment.yaml" in d else rest).append(d)
if len(deploy) != 1:
    sys.exit(f"expected one Deployment in the chart, found {len(deploy)}")
open(objects, "w").write("---".join(rest))
open(deployment, "w").write(deploy[0])
PY
k create namespace "${ns}" >/dev/null
k label namespace "${ns}" "e2e.descheduler.dev/owner=${ns}" >/dev/null
k apply -f "${work}/objects.yaml" >/dev/null
k wait --for=condition=Established --timeout="${timeout}s" crd/deschedulerpolicies.descheduler.dev >/dev/null
# The Deployment as the API server would store it (defaults filled in).
k create --dry-run=server -o json -f "${work}/deployment.yaml" >"${work}/deployment.json"
k get services -n "${ns}" -o json >"${work}/services.json"
python3 "${root}/scripts/image-test-pod.py" "${work}/deployment.json" "${work}/services.json" \
  --namespace "${ns}" --pod-name "${pod_name}" \
  --apiserver-host "${api_host}" --apiserver-port "${api_port}" \
  --service-account-dir "${sa_dir}" >"${work}/pod.sh"
# shellcheck disable=SC1091
source "${work}/pod.sh"
[[ "${pod_image}" == "${image}" ]] || die "the chart deploys ${pod_image}, not ${image}"
# What the chart must ask for (its securityContext defaults); a weaker chart
# fails here rather than being run as it says.
[[ "${pod_uid}:${pod_gid}" == 65532:65532 ]] || die "the chart runs as ${pod_uid}:${pod_gid}, not 65532:65532"
[[ "${pod_read_only}" == 1 ]] || die "the chart's root file system is not read-only"
[[ " ${pod_cap_drop[*]} " == *" ALL "* && ${#pod_cap_add[@]} == 0 ]] || die "the chart does not drop all capabilities"
[[ "${pod_no_new_privs}" == 1 ]] || die "the chart allows privilege escalation"
[[ "${pod_mount_sa}" == 1 ]] || die "the chart does not mount the ServiceAccount token"

# --- the ServiceAccount mount, as the kubelet projects it -----------------------
mkdir -p "${sa_dir}"
k create token "${pod_service_account}" -n "${ns}" --duration=1h >"${sa_dir}/token"
wait_until "ConfigMap ${ns}/kube-root-ca.crt" k get configmap kube-root-ca.crt -n "${ns}"
k get configmap kube-root-ca.crt -n "${ns}" -o jsonpath='{.data.ca\.crt}' >"${sa_dir}/ca.crt"
printf '%s' "${ns}" >"${sa_dir}/namespace"
openssl x509 -noout -in "${sa_dir}/ca.crt" || die "kube-root-ca.crt holds no certificate"
chmod 0755 "${work}" "${sa_dir}"
chmod 0644 "${sa_dir}"/*

# --- the violating situation ------------------------------------------------------
# Nodes n0 and n1 (kwok); web's two pods on n0 (n1 cordoned meanwhile); then
# n0 tainted NoSchedule, which web does not tolerate.
for n in n0 n1; do
  cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: ${ns}-${n}
  annotations: {kwok.x-k8s.io/node: fake}
  labels:
    type: kwok
    kubernetes.io/hostname: ${ns}-${n}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    ${pool_label}: ${ns}
    e2e.descheduler.dev/owner: ${ns}
status:
  allocatable: {cpu: "1", memory: 4Gi, pods: "20"}
  capacity: {cpu: "1", memory: 4Gi, pods: "20"}
EOF
done | k apply -f - >/dev/null
k wait node -l "${pool_label}=${ns}" --for=condition=Ready --timeout="${timeout}s" >/dev/null
k cordon "${ns}-n1" >/dev/null
k apply -n "${ns}" -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {${pool_label}: ${ns}}
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
        resources: {requests: {cpu: 100m, memory: 64Mi}}
EOF
k rollout status -n "${ns}" deployment/web --timeout="${timeout}s" >/dev/null
before="$(k get pods -n "${ns}" -l app=web -o jsonpath='{range .items[*]}{.metadata.uid} {.spec.nodeName}{"\n"}{end}')"
[[ "$(grep -c " ${ns}-n0$" <<<"${before}")" == 2 ]] || die "web's pods are not both on ${ns}-n0: ${before}"
k uncordon "${ns}-n1" >/dev/null
k taint node "${ns}-n0" "${taint_key}=x:NoSchedule" >/dev/null

# --- run it ------------------------------------------------------------------------
podman_probe_error=""
podman_extra=()
# podman_can_run: finds the podman flags with which a container starts here,
# trying the defaults first. Sets podman_extra; false if none works.
podman_can_run() {
  local out nofile nproc
  nofile="$(ulimit -Hn)"
  nproc="$(ulimit -Hu)"
  [[ "${nproc}" == unlimited || "${nproc}" -gt 32768 ]] && nproc=32768
  local -a tries=(
    ""
    "--ulimit=nofile=${nofile}:${nofile} --ulimit=nproc=${nproc}:${nproc}"
    "--runtime=runc --ulimit=nofile=${nofile}:${nofile} --ulimit=nproc=${nproc}:${nproc}"
  )
  local -a why=(
    ""
    "podman asks for RLIMIT_NOFILE 1048576 (and lowers its own RLIMIT_NPROC hard limit to 32768), above this host's hard limits, and cannot raise them without CAP_SYS_RESOURCE"
    "crun rejects this host's hybrid cgroup hierarchy (cgroup v1 controllers next to a cgroup2 mount); runc accepts it"
  )
  local i
  for i in "${!tries[@]}"; do
    # shellcheck disable=SC2086
    if out="$(podman run --rm --pull=never --network=host ${tries[$i]} --entrypoint=/usr/local/bin/descheduler "${image}" --version 2>&1)"; then
      # shellcheck disable=SC2206
      podman_extra=(${tries[$i]})
      [[ $i == 0 ]] || say "podman: using ${tries[$i]}: ${why[$i]}"
      return 0
    fi
    say "podman run ${tries[$i]:-(defaults)}: ${out}"
    podman_probe_error="${out}"
  done
  return 1
}

if [[ "${runner}" != unshare ]]; then
  if podman_can_run; then
    runner=podman
  elif [[ "${runner}" == podman ]]; then
    die "podman cannot run a container here: ${podman_probe_error}"
  else
    say "podman cannot run a container here (last error above); using the unshare runner"
    runner=unshare
  fi
fi

if [[ "${runner}" == podman ]]; then
  t_start="$(now)"
  podman run -d --name "${container}" "${podman_extra[@]}" "${pod_podman_flags[@]}" \
    "${image}" "${pod_args[@]}" >/dev/null
  ran=podman
  proc_pid="$(podman inspect --format '{{.State.Pid}}' "${container}")"
  t_process="$(podman inspect --format '{{.State.StartedAt.UnixNano}}' "${container}" \
    | awk '{ printf "%.9f", $1 / 1e9 }')"
else
  # The image's root file system, copied, with mount points for what the
  # kubelet and the runtime mount: /proc, a minimal /dev, /etc/hosts,
  # /etc/resolv.conf and the ServiceAccount directory.
  rootfs="${work}/rootfs"
  mkdir -p "${rootfs}"
  mnt="$(podman image mount "${image}")"
  cp -a "${mnt}/." "${rootfs}/"
  podman image unmount "${image}" >/dev/null
  mkdir -p "${rootfs}/proc" "${rootfs}/dev" "${rootfs}/etc" "${rootfs}${sa_mount}"
  touch "${rootfs}/etc/hosts" "${rootfs}/etc/resolv.conf"
  if [[ ${#pod_command[@]} -gt 0 ]]; then
    cmd=("${pod_command[@]}")
  else
    entrypoint="$(podman image inspect --format '{{json .Config.Entrypoint}}' "${image}")"
    [[ "${entrypoint}" == '["/usr/local/bin/descheduler"]' ]] \
      || die "the image's entrypoint is ${entrypoint}; the unshare runner expects /usr/local/bin/descheduler"
    cmd=(/usr/local/bin/descheduler)
  fi
  printf '%s\n' "${pod_env[@]}" >"${work}/pod.env"
  all_caps="$(capsh --print | sed -n 's/^Bounding set =//p' | tr -d ' ')"
  [[ -n "${all_caps}" ]] || die "cannot read the bounding set from capsh --print"
  t_start="$(now)"
  # unshare: new mount and pid namespaces. Inside, bind the root and the
  # mounts (the root and the ServiceAccount directory read-only), then capsh
  # drops the whole bounding set, chroots, sets gid, groups and uid (leaving
  # root clears every capability) and no_new_privs, and execs the binary
  # with exactly the pod's environment.
  setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    unshare --mount --pid --fork --kill-child --propagation private \
    /bin/bash -euc '
      root="$1" sa="$2" sa_mount="$3" ro="$4" uid="$5" gid="$6" caps="$7" nnp="$8" envfile="$9"
      shift 9
      mount --bind "$root" "$root"
      mount --bind /etc/hosts "$root/etc/hosts"
      mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
      mount -t tmpfs -o mode=0755,nosuid,noexec tmpfs "$root/dev"
      for d in null zero random urandom; do
        touch "$root/dev/$d"
        mount --bind "/dev/$d" "$root/dev/$d"
      done
      mount --bind "$sa" "$root$sa_mount"
      mount -o remount,bind,ro "$root$sa_mount"
      mount -t proc proc "$root/proc"
      if [[ "$ro" == 1 ]]; then mount -o remount,bind,ro "$root"; fi
      flags=()
      if [[ "$nnp" == 1 ]]; then flags+=(--no-new-privs); fi
      mapfile -t podenv <"$envfile"
      exec env -i "${podenv[@]}" "$(command -v capsh)" --drop="$caps" --chroot="$root" \
        --gid="$gid" --groups="$gid" --uid="$uid" "${flags[@]}" --shell="$1" -- "${@:2}"
    ' image-test "${rootfs}" "${sa_dir}" "${sa_mount}" "${pod_read_only}" "${pod_uid}" \
      "${pod_gid}" "${all_caps}" "${pod_no_new_privs}" "${work}/pod.env" \
      "${cmd[0]}" "${cmd[@]:1}" "${pod_args[@]}" \
    >"${work}/operator.log" 2>&1 </dev/null &
  run_pid=$!
  ran=unshare
  t_process="${t_start}"
  # The operator is unshare's child (pid 1 of the new pid namespace).
  deadline=$((SECONDS + timeout))
  proc_pid=""
  until [[ -n "${proc_pid}" && "$(readlink "/proc/${proc_pid}/exe" 2>/dev/null)" == *descheduler ]]; do
    proc_pid="$(cat "/proc/${run_pid}/task/${run_pid}/children" 2>/dev/null | awk '{print $1}')"
    kill -0 "${run_pid}" 2>/dev/null || die "the unshare runner exited: $(cat "${work}/operator.log")"
    ((SECONDS < deadline)) || die "the operator did not start under unshare"
    sleep 0.05
  done
fi

# --- readiness and start-up time ------------------------------------------------------
ready_url="http://127.0.0.1:${pod_ready_port}${pod_ready_path}"
deadline=$((SECONDS + timeout))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${ready_url}" 2>/dev/null)" == 200 ]]; do
  operator_alive || die "the operator exited before ${pod_ready_path} answered 200"
  ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for ${ready_url}"
  sleep 0.02
done
t_ready="$(now)"
startup="$(elapsed "${t_process}" "${t_ready}")"
startup_run="$(elapsed "${t_start}" "${t_ready}")"
say "ready: ${pod_ready_path} 200 ${startup}s after the process started (${startup_run}s after '${runner} run')"
if [[ -n "${pod_live_path}" ]]; then
  curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:${pod_live_port}${pod_live_path}" \
    || die "${pod_live_path} does not answer 200"
fi

# --- the process runs as the Deployment says ---------------------------------------------
status="$(cat "/proc/${proc_pid}/status")"
field() { awk -v f="$1:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' <<<"${status}"; }
uids="$(field Uid)"; gids="$(field Gid)"
[[ "$(tr -s '\t ' ' ' <<<"${uids}")" == "${pod_uid} ${pod_uid} ${pod_uid} ${pod_uid}" ]] || die "uids ${uids}, not ${pod_uid}"
[[ "$(tr -s '\t ' ' ' <<<"${gids}")" == "${pod_gid} ${pod_gid} ${pod_gid} ${pod_gid}" ]] || die "gids ${gids}, not ${pod_gid}"
for set in CapInh CapPrm CapEff CapAmb; do
  [[ "$(field "${set}")" == 0000000000000000 ]] || die "${set} is $(field "${set}"), not empty"
done
if [[ " ${pod_cap_drop[*]} " == *" ALL "* && ${#pod_cap_add[@]} == 0 ]]; then
  [[ "$(field CapBnd)" == 0000000000000000 ]] || die "CapBnd is $(field CapBnd), not empty"
fi
if [[ "${pod_no_new_privs}" == 1 ]]; then
  [[ "$(field NoNewPrivs)" == 1 ]] || die "no_new_privs is not set"
fi
if [[ "${runner}" == podman ]]; then
  [[ "$(field Seccomp)" == 2 ]] || die "no seccomp filter (Seccomp: $(field Seccomp))"
fi
root_opts="$(awk '$5 == "/" { print $6 }' "/proc/${proc_pid}/mountinfo" | tail -n1)"
if [[ "${pod_read_only}" == 1 ]]; then
  [[ ",${root_opts}," == *,ro,* ]] || die "the root file system is mounted ${root_opts}, not ro"
fi
sa_opts="$(awk -v m="${sa_mount}" '$5 == m { print $6 }' "/proc/${proc_pid}/mountinfo" | tail -n1)"
[[ ",${sa_opts}," == *,ro,* ]] || die "the ServiceAccount directory is mounted '${sa_opts}', not ro"
[[ "$(tr '\0' '\n' <"/proc/${proc_pid}/environ" | grep -c '^KUBECONFIG=')" == 0 ]] || die "KUBECONFIG leaked into the operator"
say "process: uid ${pod_uid} gid ${pod_gid}, no capabilities (bounding $(field CapBnd)), no_new_privs $(field NoNewPrivs), seccomp $(field Seccomp), root ${root_opts%%,*}, ServiceAccount ${sa_opts%%,*}"

# --- the eviction ------------------------------------------------------------------------------
t_policy="$(now)"
k apply -f - >/dev/null <<EOF
apiVersion: descheduler.dev/v1alpha1
kind: DeschedulerPolicy
metadata: {name: ${policy}}
spec:
  interval: 1h
  nodeSelector: ${pool_label}=${ns}
  # Both replicas are evicted in one run; the last-replica guard has its
  # own e2e tests.
  singleReplicaStrategy: Evict
  strategies:
    RemovePodsViolatingNodeTaints:
      params:
        namespaces: {include: [${ns}]}
EOF
run_done() {
  [[ "$(k get deschedulerpolicy "${policy}" -o jsonpath='{.status.lastRun.completionTime}')" != "" ]]
}
wait_until "a completed run of policy ${policy}" run_done
t_run="$(now)"
result="$(k get deschedulerpolicy "${policy}" -o jsonpath='{.status.lastRun.result} {.status.lastRun.evicted} {.status.lastRun.failed}')"
[[ "${result}" == "Succeeded 2 0" ]] || die "run result/evicted/failed is '${result}', not 'Succeeded 2 0'"
sa_user="system:serviceaccount:${ns}:${pod_service_account}"
evictions() {
  [[ "$("${cluster}/audit-count.sh" evictions --namespace "${ns}" --user "${sa_user}" --total)" == 2 ]]
}
wait_until "2 evictions by ${sa_user} in the audit log" evictions
replaced() {
  local now_pods
  now_pods="$(k get pods -n "${ns}" -l app=web -o jsonpath='{range .items[*]}{.metadata.uid} {.spec.nodeName} {.status.phase} {.metadata.deletionTimestamp}{"\n"}{end}')"
  # Two pods, both new, both running on n1.
  [[ "$(grep -c " ${ns}-n1 Running $" <<<"${now_pods}")" == 2 ]] || return 1
  while read -r uid _; do
    [[ -z "${uid}" ]] || ! grep -q "^${uid} " <<<"${now_pods}" || return 1
  done <<<"${before}"
}
wait_until "web's replacements running on ${ns}-n1" replaced
operator_alive || die "the operator is not running after the run"
if [[ "${runner}" == podman ]]; then
  restarts="$(podman inspect --format '{{.RestartCount}}' "${container}")"
  [[ "${restarts}" == 0 ]] || die "the container restarted ${restarts} times"
fi
curl -fsS --max-time 5 -o /dev/null "${ready_url}" || die "${pod_ready_path} no longer answers 200"

passed=1
say "PASSED (${runner})"
say "  image         ${image}: ${image_size} bytes ($(awk -v s="${image_size}" 'BEGIN { printf "%.1f", s / 1048576 }') MiB), ${build}"
say "  start-up      process start -> ${pod_ready_path} 200: ${startup}s ('${runner} run' -> 200: ${startup_run}s)"
say "  eviction      policy created -> run completed with 2 evictions: $(elapsed "${t_policy}" "${t_run}")s"
