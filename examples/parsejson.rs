//! The floor for reading a dump: parse a JSON file into a `serde_json::Value`
//! and nothing else (bench/simulate-scale.sh compares `simulate` with it).
//!
//! ```sh
//! cargo run --release --example parsejson -- cluster.json
//! ```

use std::io::Read;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: parsejson FILE"))?;
    let started = std::time::Instant::now();
    let mut text = Vec::new();
    std::fs::File::open(&path)?.read_to_end(&mut text)?;
    let v: serde_json::Value = serde_json::from_slice(&text)?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for item in v
        .get("items")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = item.get("kind").and_then(serde_json::Value::as_str);
        *kinds.entry(kind.unwrap_or("?")).or_default() += 1;
    }
    eprintln!("parsejson: parsed in {elapsed:.3} s");
    for (kind, n) in kinds {
        println!("{kind} {n}");
    }
    Ok(())
}
