//! One PromQL instant query per run to `--prometheus-url` (SPEC §13), through
//! kube's HTTP stack (TLS with `--prometheus-ca-file`, bearer token re-read
//! from `--prometheus-token-file`), so no second HTTP client is linked in.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("--prometheus-url {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("cannot set up the Prometheus client: {0}")]
    Client(#[source] kube::Error),
    #[error("cannot build the query request: {0}")]
    Request(#[source] http::Error),
    #[error("Prometheus query {query:?}: {source}")]
    Http { query: String, source: kube::Error },
    #[error("Prometheus query {query:?}: {message}")]
    Answer { query: String, message: String },
}

pub struct PrometheusClient {
    client: kube::Client,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    #[serde(default)]
    result: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// [unix time, "value"]
    value: (f64, String),
}

impl PrometheusClient {
    pub fn new(
        url: &str,
        token_file: Option<&Path>,
        ca_file: Option<&Path>,
    ) -> Result<Self, PrometheusError> {
        let uri: http::Uri =
            url.parse()
                .map_err(|e: http::uri::InvalidUri| PrometheusError::Url {
                    url: url.to_string(),
                    message: e.to_string(),
                })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(PrometheusError::Url {
                url: url.to_string(),
                message: "must start with http:// or https://".into(),
            });
        }
        let mut config = kube::Config::new(uri);
        config.root_cert_file = ca_file.map(Path::to_path_buf);
        config.auth_info.token_file = token_file.map(|p| p.display().to_string());
        config.read_timeout = Some(Duration::from_secs(30));
        let client = kube::Client::try_from(config).map_err(PrometheusError::Client)?;
        Ok(Self { client })
    }

    /// The query's value per node (`instance` label), as a ratio.
    pub async fn query(&self, query: &str) -> Result<BTreeMap<String, f64>, PrometheusError> {
        let path = format!("/api/v1/query?query={}", encode(query));
        let req = http::Request::get(path)
            .body(Vec::new())
            .map_err(PrometheusError::Request)?;
        let text = self
            .client
            .request_text(req)
            .await
            .map_err(|source| PrometheusError::Http {
                query: query.to_string(),
                source,
            })?;
        parse_answer(&text).map_err(|message| PrometheusError::Answer {
            query: query.to_string(),
            message,
        })
    }
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A vector answer as node -> value; anything else is an error, so a
/// mistaken query fails the strategy instead of balancing on nonsense.
pub fn parse_answer(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let answer: Answer =
        serde_json::from_str(text).map_err(|e| format!("not a Prometheus API answer: {e}"))?;
    if answer.status != "success" {
        return Err(answer.error.unwrap_or_else(|| answer.status.clone()));
    }
    let data = answer.data.ok_or("the answer has no data")?;
    if data.result_type != "vector" {
        return Err(format!(
            "returned a {}, not an instant vector",
            data.result_type
        ));
    }
    let mut out = BTreeMap::new();
    for s in data.result {
        let Some(instance) = s.metric.get("instance") else {
            return Err(format!(
                "a sample without an instance label ({:?}); the query must return one sample per node, labelled instance=<node name>",
                s.metric
            ));
        };
        let value: f64 =
            s.value.1.parse().map_err(|_| {
                format!("instance {instance}: value {:?} is not a number", s.value.1)
            })?;
        if out.insert(instance.clone(), value).is_some() {
            return Err(format!("instance {instance} has more than one sample"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_answers_by_instance() {
        let ok = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"n1"},"value":[1.7e9,"0.25"]},{"metric":{"instance":"n2"},"value":[1.7e9,"1"]}]}}"#;
        let got = parse_answer(ok).unwrap();
        assert_eq!(got["n1"], 0.25);
        assert_eq!(got["n2"], 1.0);
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(parse_answer(matrix).unwrap_err().contains("matrix"));
        let no_label = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.1"]}]}}"#;
        assert!(parse_answer(no_label).unwrap_err().contains("instance"));
        let err = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert_eq!(parse_answer(err).unwrap_err(), "parse error");
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode("a b{c=\"d\"}"), "a%20b%7Bc%3D%22d%22%7D");
    }
}
