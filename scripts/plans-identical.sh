#!/usr/bin/env bash
# Checks that a change kept every plan byte-identical: runs `simulate --output
# json` with two builds of the binary on generated clusters (100 and 1,000
# nodes, seed 1, with their full policies) and on examples/cluster.yaml with
# every sample policy, and compares the outputs.
#
#   scripts/plans-identical.sh BASELINE_BINARY [CANDIDATE_BINARY]
#
# PLAN_FILTER, if set, is a jq filter applied to both outputs before they are
# compared: to check the decisions alone across a change that adds to the
# report, e.g. (placement prediction)
#   PLAN_FILTER='del(.nodes, .warnings) | (.evictions[], .blocked[]) |= del(.predictedNode) | .strategies[] |= del(.warnings)'
# or (a field added to each eviction)
#   PLAN_FILTER='(.evictions[], .blocked[]) |= del(.predictedTies)'
#
# CANDIDATE_BINARY defaults to target/release/descheduler (build it first with
# `cargo build --release --bins --examples`). Generated clusters are cached in
# .cache/plans/. Exit 0 when every plan is identical, 1 otherwise.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  '') usage >&2; exit 2 ;;
esac
base="$1"
# A baseline that is not an executable would make every plan "DIFFERENT".
for b in "${base}" "${2:-${root}/target/release/descheduler}"; do
  [[ -x "${b}" ]] || { echo "plans-identical.sh: ${b} is not an executable binary" >&2; exit 2; }
done
cand="${2:-${root}/target/release/descheduler}"
gen="${root}/target/release/examples/gencluster"
work="${root}/.cache/plans"
now=2026-11-23T12:00:00Z
mkdir -p "${work}"
for n in ${PLAN_SIZES:-100 1000}; do
  [[ -f "${work}/c${n}.json" ]] || "${gen}" --nodes "${n}" --seed 1 --out "${work}/c${n}.json" --policy-out "${work}/p${n}.yaml" >/dev/null
  # A budget per replicated service, in 4 namespaces (issue 16's shape).
  [[ -f "${work}/b${n}.json" ]] || "${gen}" --nodes "${n}" --seed 1 --namespaces 4 --pdb-share 1 --compact --out "${work}/b${n}.json" >/dev/null
done
status=0
compare() {
  local label="$1"; shift
  "${base}" simulate "$@" --now "${now}" --output json > "${work}/a.json" 2>/dev/null || true
  "${cand}" simulate "$@" --now "${now}" --output json > "${work}/b.json" 2>/dev/null || true
  if [[ -n "${PLAN_FILTER:-}" ]]; then
    for side in a b; do jq -S "${PLAN_FILTER}" "${work}/${side}.json" > "${work}/${side}.f.json" && mv "${work}/${side}.f.json" "${work}/${side}.json"; done
  fi
  if cmp -s "${work}/a.json" "${work}/b.json"; then
    echo "identical  ${label} ($(wc -c < "${work}/a.json") bytes)"
  else
    echo "DIFFERENT  ${label}"; status=1
  fi
}
for n in ${PLAN_SIZES:-100 1000}; do
  compare "generated ${n} nodes, full policy" --policy "${work}/p${n}.yaml" --cluster "${work}/c${n}.json"
  compare "generated ${n} nodes, a budget per workload, full policy" --policy "${work}/p${n}.yaml" --cluster "${work}/b${n}.json"
done
for f in "${root}"/config/samples/*.yaml; do
  compare "examples/cluster.yaml, $(basename "${f}")" --policy "${f}" --cluster "${root}/examples/cluster.yaml"
  [[ -f "${work}/c1000.json" ]] && compare "generated 1000 nodes, $(basename "${f}")" --policy "${f}" --cluster "${work}/c1000.json"
done
exit "${status}"
