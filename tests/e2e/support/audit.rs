//! The API server's audit log and the client certificates whose requests it
//! logs (`tests/e2e/cluster/audit-policy.yaml`).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `KEY=value` of the running cluster's `.cache/cluster/env`.
pub fn cluster_env(key: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/cluster/env");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} not in {}", path.display()))
        .to_string()
}

/// A kubeconfig for `server` as `user` (groups system:masters and
/// `groups`), with a client certificate signed by the cluster's CA; written
/// into `dir`. The audit policy logs every request of the user `e2e-audited`
/// and of the group `e2e-audited`.
pub fn audited_kubeconfig(dir: &Path, server: &str, user: &str, groups: &[&str]) -> PathBuf {
    let pki = PathBuf::from(cluster_env("DATA_DIR")).join("pki");
    let (key, csr, crt) = (dir.join("u.key"), dir.join("u.csr"), dir.join("u.crt"));
    let openssl = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let subject = std::iter::once(format!("/CN={user}/O=system:masters"))
        .chain(groups.iter().map(|g| format!("/O={g}")))
        .collect::<String>();
    openssl(&[
        "req".as_ref(),
        "-new".as_ref(),
        "-newkey".as_ref(),
        "rsa:2048".as_ref(),
        "-nodes".as_ref(),
        "-keyout".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        csr.as_os_str(),
        "-subj".as_ref(),
        subject.as_ref(),
    ]);
    let (ca_crt, ca_key) = (pki.join("ca.crt"), pki.join("ca.key"));
    // Extensions make it a v3 certificate, which rustls requires.
    let ext = dir.join("u.ext");
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .expect("write the extensions");
    openssl(&[
        "x509".as_ref(),
        "-req".as_ref(),
        "-extfile".as_ref(),
        ext.as_os_str(),
        "-in".as_ref(),
        csr.as_os_str(),
        "-CA".as_ref(),
        ca_crt.as_os_str(),
        "-CAkey".as_ref(),
        ca_key.as_os_str(),
        "-CAcreateserial".as_ref(),
        "-CAserial".as_ref(),
        dir.join("ca.srl").as_os_str(),
        "-days".as_ref(),
        "1".as_ref(),
        "-out".as_ref(),
        crt.as_os_str(),
    ]);
    let b64 = |p: &Path| {
        use std::io::Write;
        let data = std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        let mut child = std::process::Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run base64");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&data)
            .expect("write base64 input");
        String::from_utf8(child.wait_with_output().expect("base64").stdout).expect("base64 text")
    };
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: slow\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: audited\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: slow\n  context:\n    cluster: slow\n    user: audited\ncurrent-context: slow\n",
        b64(&ca_crt),
        b64(&crt),
        b64(&key)
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig).expect("write the kubeconfig");
    path
}

/// Every event of the audit log files `files` (a missing one holds none).
pub fn events(files: &[PathBuf]) -> Vec<Value> {
    let mut events = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        // The last line may be half written.
        events.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    events
}

/// The logs directory of the running cluster.
pub fn logs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/cluster/logs")
}

/// Runs `tests/e2e/cluster/apiserver.sh ARGS...` (stop, start, compact, a
/// second API server); its stdout.
pub fn apiserver_sh(args: &[&str]) -> String {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/cluster/apiserver.sh");
    let out = std::process::Command::new(&script)
        .args(args)
        .env("APISERVER_START_TIMEOUT", "90")
        .output()
        .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
