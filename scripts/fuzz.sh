#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets/) for SECONDS (default 60)
# one after the other, seeded from the repository's own samples, examples
# and fixtures, and prints executions, coverage and findings per target.
# Exits 1 when a target crashed (its input is in fuzz/artifacts/TARGET/).
#
#   scripts/fuzz.sh [SECONDS]              every target
#   FUZZ_TARGETS="dump quantity" scripts/fuzz.sh 600
#   FUZZ_CODEGEN_UNITS=16 scripts/fuzz.sh 20    faster build, slower fuzzing (CI)
#
# Needs a nightly toolchain (rustup); installs cargo-fuzz from crates.io when
# missing. The corpus grows in fuzz/corpus/TARGET (git-ignored) and is reused
# by the next run.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
targets=${FUZZ_TARGETS:-"policy policy_schema dump dump_structured quantity selector convert"}
# cargo-fuzz builds with one codegen unit (about 3x faster fuzzing, but the
# crate alone then takes many minutes to compile): CI trades that back.
build_flags=()
if [ -n "${FUZZ_CODEGEN_UNITS:-}" ]; then
  build_flags=(--codegen-units "$FUZZ_CODEGEN_UNITS")
fi

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "== installing a nightly toolchain (cargo-fuzz needs one)"
  if ! rustup toolchain install nightly --profile minimal; then
    echo "fuzz.sh: no nightly toolchain and rustup cannot install one" >&2
    exit 1
  fi
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

work=fuzz/target/run
rm -rf "$work/seeds" "$work/dicts"
mkdir -p "$work/seeds" "$work/dicts" "$work/logs"

# Seeds: the inputs the repository already has for each reader.
seed() { # seed TARGET FILE...
  local dir="$work/seeds/$1"
  shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | tr / _)"; done
}
seed policy config/samples/*.yaml tests/fixtures/bad/*policy*.yaml \
  tests/fixtures/bad/unknown-fields.yaml tests/fixtures/upstream/*.expected.yaml
seed dump examples/cluster.yaml tests/fixtures/bad/*cluster*.yaml fuzz/seeds/dump/*
seed convert $(find tests/fixtures/upstream -name '*.yaml' ! -name '*.expected.yaml' | sort)
seed selector fuzz/seeds/selector/*
seed quantity fuzz/seeds/quantity/*
# The quantities and node selectors the samples and the example cluster use.
i=0
for q in $(grep -ohE "(cpu|memory|pods|nvidia.com/gpu|example.com/gpu): *'?[0-9][0-9A-Za-z.+-]*'?" examples/cluster.yaml \
  | sed -E "s/^[^:]+: *//; s/'//g" | sort -u); do
  printf '%s' "$q" > "$work/seeds/quantity/example-$i"
  i=$((i + 1))
done
i=0
grep -ohE "nodeSelector: *['\"]?[^'\"]+" config/samples/*.yaml README.md 2>/dev/null \
  | sed -E "s/^nodeSelector: *['\"]?//" | sort -u | while IFS= read -r s; do
  printf '%s' "$s" > "$work/seeds/selector/sample-$i"
  i=$((i + 1))
done

# Dictionaries: the field names the parsers know, so mutations can splice them in.
grep -ohE '^ +[a-zA-Z][a-zA-Z0-9]*:' crds/deschedulerpolicies.descheduler.dev.yaml \
  | sed -E 's/^ +//; s/:$//' | sort -u | sed 's/.*/"&"/' > "$work/dicts/policy"
grep -rohE '^ *-? *[a-zA-Z][a-zA-Z0-9]*:' tests/fixtures/upstream \
  | sed -E 's/^ *-? *//; s/:$//' | sort -u | sed 's/.*/"&"/' > "$work/dicts/convert"
grep -rohE '"?(Default[A-Za-z]+|Remove[A-Za-z]+|LowNodeUtilization|HighNodeUtilization|PodLifeTime)"?' \
  tests/fixtures/upstream | tr -d '"' | sort -u | sed 's/.*/"&"/' >> "$work/dicts/convert"
cp "$work/dicts/policy" "$work/dicts/dump_fields"
printf '"Node"\n"Pod"\n"PodDisruptionBudget"\n"PriorityClass"\n"Namespace"\n"List"\n"items"\n"kind"\n' >> "$work/dicts/dump_fields"

echo "== building the fuzz targets (nightly, sanitizer coverage)"
cargo +nightly fuzz build "${build_flags[@]}"

summary="$work/summary.tsv"
printf 'target\texecs\texec/s\tcov\tft\tcorpus\tresult\n' > "$summary"
failed=()
for t in $targets; do
  mkdir -p "fuzz/corpus/$t" "$work/seeds/$t"
  dict=()
  case "$t" in
    policy | policy_schema) dict=(-dict="$work/dicts/policy") ;;
    convert) dict=(-dict="$work/dicts/convert") ;;
    dump) dict=(-dict="$work/dicts/dump_fields") ;;
  esac
  log="$work/logs/$t.log"
  echo "== fuzzing $t for ${secs}s"
  status=ok
  if ! cargo +nightly fuzz run "${build_flags[@]}" "$t" "fuzz/corpus/$t" "$work/seeds/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -timeout=20 \
    "${dict[@]}" >"$log" 2>&1; then
    status=CRASH
    failed+=("$t")
    tail -n 60 "$log" >&2
  fi
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+' || true)
  ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+' || true)
  corp=$(echo "$last" | grep -oE 'corp: [0-9]+' | grep -oE '[0-9]+' || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$status" >> "$summary"
done
echo "== fuzzing summary (${secs}s per target; logs in $work/logs)"
column -t -s $'\t' "$summary" 2>/dev/null || cat "$summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
