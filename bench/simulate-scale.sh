#!/usr/bin/env bash
# simulate on generated dumps of issue 16's shape: 4 namespaces, a
# PodDisruptionBudget selecting a workload by `app` for one replicated
# service in four (PDB_SHARE), 30 pods per node; compact JSON (one line, no
# managedFields) and kubectl-shaped JSON (indented), with a near-empty policy
# (one strategy that matches nothing) and with the full policy.
#
#   cargo build --release --bin descheduler --example gencluster --example parsejson
#   bench/simulate-scale.sh [NODES...]        # default: 250 500 1000 5000 10000
#
# Prints one table row per (nodes, shape): dump size, budgets, the time and
# peak RSS of `simulate` (near-empty, then full policy), and the time to
# merely parse the file into a serde_json::Value (examples/parsejson.rs).
# Dumps go to .cache/bench/simulate-scale (about 0.2 GB per 1,000 nodes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${DESCHEDULER_BIN:-${root}/target/release/descheduler}"
gen="${root}/target/release/examples/gencluster"
parse="${root}/target/release/examples/parsejson"
out="${root}/.cache/bench/simulate-scale"
share="${PDB_SHARE:-0.25}"
mkdir -p "${out}"
for b in "${bin}" "${gen}" "${parse}"; do
  [[ -x "${b}" ]] || { echo "missing ${b}: cargo build --release --bin descheduler --example gencluster --example parsejson" >&2; exit 1; }
done
cat > "${out}/near-empty.yaml" <<'YAML'
apiVersion: descheduler.dev/v1alpha1
kind: DeschedulerPolicy
metadata: {name: near-empty}
spec:
  strategies:
    RemoveFailedPods:
      params:
        namespaces: {include: [no-such-namespace]}
YAML
now=2026-11-23T12:00:00Z
# measure LABEL CMD...: "seconds peak-MiB" of one run.
measure() {
  /usr/bin/time -o "${out}/time.txt" -f '%e %M' "$@" >/dev/null 2>"${out}/stderr.txt" \
    || { echo "failed: $* ($(tail -n1 "${out}/stderr.txt"))" >&2; exit 1; }
  awk '{printf "%.2f s | %.0f MiB", $1, $2 / 1024}' "${out}/time.txt"
}
echo "| nodes | pods | budgets | shape | dump | parse only | simulate near-empty (time, peak RSS) | RSS / dump | full policy (time, peak RSS) |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "${@:-250 500 1000 5000 10000}"; do
  for shape in compact kubectl; do
    f="${out}/n${n}-${shape}.json"
    flag=(); [[ "${shape}" == compact ]] && flag=(--compact)
    [[ -s "${f}" ]] || "${gen}" --nodes "${n}" --seed 1 --namespaces 4 --pdb-share "${share}" "${flag[@]}" \
      --out "${f}" --policy-out "${out}/full.yaml" 2>"${out}/gen.log"
    [[ -s "${out}/full.yaml" ]] || "${gen}" --nodes 10 --policy-out "${out}/full.yaml" 2>/dev/null
    size="$(stat -c %s "${f}")"
    /usr/bin/time -o "${out}/time.txt" -f '%e' "${parse}" "${f}" >"${out}/kinds.txt" 2>/dev/null
    p="$(cat "${out}/time.txt")"
    pods="$(awk '$1 == "Pod" {print $2}' "${out}/kinds.txt")"
    pdbs="$(awk '$1 == "PodDisruptionBudget" {print $2}' "${out}/kinds.txt")"
    near="$(measure "${bin}" simulate --policy "${out}/near-empty.yaml" --cluster "${f}" --now "${now}")"
    rss="$(awk -v s="${size}" '{printf "%.2fx", $2 * 1024 / s}' "${out}/time.txt")"
    full="$(measure "${bin}" simulate --policy "${out}/full.yaml" --cluster "${f}" --now "${now}" --output json)"
    echo "| ${n} | ${pods} | ${pdbs} | ${shape} | $((size / 1048576)) MB | ${p} s | ${near} | ${rss} | ${full} |"
  done
done
