//! The serving certificate of `--metrics-secure`: PEM files, re-read when
//! they change (a renewed Secret or cert-manager certificate is picked up
//! without a restart), or a self-signed one generated in memory at start-up.
//! rustls with the ring provider, as the API client uses: no second TLS stack.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: no PEM certificate in it ({message})")]
    Certificate { what: String, message: String },
    #[error("{what}: no PEM private key in it ({message})")]
    Key { what: String, message: String },
    #[error("the certificate and the key do not go together: {0}")]
    Config(#[from] rustls::Error),
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Where the certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Generated at start-up for these DNS names and IP addresses.
    SelfSigned {
        names: Vec<String>,
    },
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
}

/// A server configuration from a PEM certificate chain and private key;
/// `cert_what` and `key_what` name them in errors.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_what: &str,
    key_what: &str,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate {
            what: cert_what.to_string(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            what: cert_what.to_string(),
            message: "empty".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key {
        what: key_what.to_string(),
        message: e.to_string(),
    })?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A self-signed certificate and its key, as PEM.
pub fn self_signed(names: &[String]) -> Result<(String, String), TlsError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn from_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    server_config(
        &read(cert)?,
        &read(key)?,
        &cert.display().to_string(),
        &key.display().to_string(),
    )
}

/// The configuration to serve with, read or generated once.
pub fn load(source: &Source) -> Result<RustlsConfig, TlsError> {
    let config = match source {
        Source::SelfSigned { names } => {
            let (cert, key) = self_signed(names)?;
            server_config(
                cert.as_bytes(),
                key.as_bytes(),
                "generated certificate",
                "generated key",
            )?
        }
        Source::Files { cert, key } => from_files(cert, key)?,
    };
    Ok(RustlsConfig::from_config(config))
}

/// What identifies a file's version: a Secret volume swaps a symlink, which
/// changes the target's modification time, and a rewrite in place changes
/// it too.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Re-reads the files every `every` while they change, until `shutdown`; a
/// pair that does not load (half-written, mismatched) keeps the old one in
/// use and is tried again at the next change.
pub async fn watch(
    config: RustlsConfig,
    cert: PathBuf,
    key: PathBuf,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut seen = (stamp(&cert), stamp(&key));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        let now = (stamp(&cert), stamp(&key));
        if now == seen {
            continue;
        }
        match from_files(&cert, &key) {
            Ok(c) => {
                config.reload_from_config(c);
                seen = now;
                tracing::info!(cert = %cert.display(), "reloaded the metrics serving certificate");
            }
            Err(e) => {
                tracing::warn!(error = %e, "the changed metrics serving certificate does not load; keeping the previous one");
                seen = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_makes_a_configuration() {
        let (cert, key) = self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let config = server_config(cert.as_bytes(), key.as_bytes(), "c", "k").unwrap();
        assert_eq!(config.alpn_protocols[1], b"http/1.1");
    }

    #[test]
    fn bad_pem_names_the_file() {
        let (cert, key) = self_signed(&["localhost".into()]).unwrap();
        let (other_cert, _) = self_signed(&["localhost".into()]).unwrap();
        let err = |c: &str, k: &str| {
            server_config(c.as_bytes(), k.as_bytes(), "tls.crt", "tls.key")
                .unwrap_err()
                .to_string()
        };
        assert!(err("", &key).starts_with("tls.crt: no PEM certificate"));
        assert!(err(&cert, "").starts_with("tls.key: no PEM private key"));
        assert!(err(&cert, &cert).starts_with("tls.key: no PEM private key"));
        // A key that is not the certificate's.
        assert!(
            err(&other_cert, &key).contains("do not go together"),
            "{}",
            err(&other_cert, &key)
        );
    }

    #[tokio::test]
    async fn changed_files_are_reloaded_and_a_broken_change_keeps_the_old_one() {
        let dir = std::env::temp_dir().join(format!("descheduler-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
        let write = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let (c, k) = self_signed(&names).unwrap();
            std::fs::write(&cert_path, &c).unwrap();
            std::fs::write(&key_path, &k).unwrap();
            c
        };
        write(&["first.example"]);
        let config = load(&Source::Files {
            cert: cert_path.clone(),
            key: key_path.clone(),
        })
        .unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(watch(
            config.clone(),
            cert_path.clone(),
            key_path.clone(),
            Duration::from_millis(20),
            stop.clone(),
        ));
        let before = Arc::as_ptr(&config.get_inner());
        // Modification times can be coarse: make sure the stamp differs.
        tokio::time::sleep(Duration::from_millis(50)).await;
        write(&["second.example", "with-a-longer-name.example"]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while Arc::as_ptr(&config.get_inner()) == before {
            assert!(tokio::time::Instant::now() < deadline, "not reloaded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let reloaded = Arc::as_ptr(&config.get_inner());
        std::fs::write(&key_path, "not a key, and a different length").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            Arc::as_ptr(&config.get_inner()),
            reloaded,
            "a broken pair replaced the good one"
        );
        stop.cancel();
        task.await.unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }
}
