//! A real etcd that requires what a production one would: TLS with client certificates (a CA
//! made here with rcgen) and user + password authentication, with an `aclgate` user allowed
//! only under `/sec/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{b64, free_port};

/// The aclgate user's password.
pub const GATE_PASSWORD: &str = "gate-pw-1";

/// One etcd member on https, client certificates required, authentication enabled.
pub struct SecuredEtcd {
    pub dir: tempfile::TempDir,
    pub endpoint: String,
    child: Child,
}

impl SecuredEtcd {
    pub fn start() -> SecuredEtcd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_certificates(d);
        let (client, peer) = (free_port(), free_port());
        let endpoint = format!("https://127.0.0.1:{client}");
        let log = std::fs::File::create(d.join("etcd.log")).unwrap();
        let child = Command::new("etcd")
            .args(["--name", "s1"])
            .arg("--data-dir")
            .arg(d.join("data"))
            .args(["--listen-client-urls", &endpoint])
            .args(["--advertise-client-urls", &endpoint])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &format!("s1=http://127.0.0.1:{peer}")])
            .arg("--cert-file")
            .arg(d.join("server.pem"))
            .arg("--key-file")
            .arg(d.join("server.key"))
            .arg("--trusted-ca-file")
            .arg(d.join("ca.pem"))
            .arg("--client-cert-auth")
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd not installed");
        let etcd = SecuredEtcd {
            dir,
            endpoint,
            child,
        };
        etcd.wait_up();
        etcd.enable_auth();
        etcd
    }

    fn agent(&self) -> ureq::Agent {
        let d = self.dir.path();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut std::fs::read(d.join("ca.pem")).unwrap().as_slice())
        {
            roots.add(cert.unwrap()).unwrap();
        }
        let chain =
            rustls_pemfile::certs(&mut std::fs::read(d.join("client.pem")).unwrap().as_slice())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
        let key = rustls_pemfile::private_key(
            &mut std::fs::read(d.join("client.key")).unwrap().as_slice(),
        )
        .unwrap()
        .unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
        ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(5))
            .tls_config(Arc::new(tls))
            .build()
    }

    fn call(&self, path: &str, body: serde_json::Value) -> ureq::Response {
        self.agent()
            .post(&format!("{}{path}", self.endpoint))
            .send_string(&body.to_string())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let agent = self.agent();
        while agent
            .post(&format!("{}/v3/kv/range", self.endpoint))
            .send_string(r#"{"key":"AA=="}"#)
            .is_err()
        {
            assert!(Instant::now() < deadline, "secured etcd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// root (all), and `gate` with read-write on `/sec/` only; then authentication on.
    fn enable_auth(&self) {
        use serde_json::json;
        self.call(
            "/v3/auth/user/add",
            json!({ "name": "root", "password": "root-pw-1" }),
        );
        self.call(
            "/v3/auth/user/grant",
            json!({ "user": "root", "role": "root" }),
        );
        self.call("/v3/auth/role/add", json!({ "name": "gate" }));
        self.call(
            "/v3/auth/role/grant",
            json!({ "name": "gate", "perm": {
                "permType": "READWRITE", "key": b64("/sec/"), "range_end": b64("/sec0"),
            } }),
        );
        self.call(
            "/v3/auth/user/add",
            json!({ "name": "gate", "password": GATE_PASSWORD }),
        );
        self.call(
            "/v3/auth/user/grant",
            json!({ "user": "gate", "role": "gate" }),
        );
        self.call("/v3/auth/enable", json!({}));
    }

    /// `aclgate.toml` in `dir` for this etcd: `prefix`, and `[state.etcd]` lines `tls_and_auth`
    /// (see [`SecuredEtcd::credentials`]).
    pub fn config(&self, dir: &Path, prefix: &str, tls_and_auth: &str) -> PathBuf {
        self.config_with(dir, "", prefix, tls_and_auth)
    }

    /// As [`SecuredEtcd::config`], with top-level settings `top` (before the tables).
    pub fn config_with(&self, dir: &Path, top: &str, prefix: &str, tls_and_auth: &str) -> PathBuf {
        let path = dir.join("aclgate.toml");
        std::fs::write(
            &path,
            format!(
                "{top}\n[state]\ndir = \"state\"\nbackend = \"etcd\"\n\n[state.etcd]\nendpoints = [\"{}\"]\nprefix = \"{prefix}\"\ntimeout_ms = 2000\nprobe_interval_ms = 200\n{tls_and_auth}",
                self.endpoint
            ),
        )
        .unwrap();
        path
    }

    /// The `[state.etcd]` lines: CA, client certificate (if `cert`), user `gate` with
    /// `password` (written to a file).
    pub fn credentials(&self, cert: bool, password: &str) -> String {
        let d = self.dir.path();
        let pw = d.join(format!("pw-{}", password.len()));
        std::fs::write(&pw, format!("{password}\n")).unwrap();
        let mut lines = format!("ca = \"{}\"\n", d.join("ca.pem").display());
        if cert {
            lines += &format!(
                "cert = \"{}\"\nkey = \"{}\"\n",
                d.join("client.pem").display(),
                d.join("client.key").display()
            );
        }
        lines += &format!("user = \"gate\"\npassword_file = \"{}\"\n", pw.display());
        lines
    }
}

impl Drop for SecuredEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA, a server certificate for 127.0.0.1 (also a client one: etcd's JSON gateway dials its
/// own gRPC port with it) and a client certificate, as PEM files in `dir`.
fn write_certificates(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "aclgate test etcd CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    for (name, cn, usages) in [
        (
            "server",
            "etcd-server",
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        ),
        // No common name: etcd's JSON gateway refuses a client certificate that has one
        // (it could not pass the name on as the etcd user).
        ("client", "", vec![ExtendedKeyUsagePurpose::ClientAuth]),
    ] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        if !cn.is_empty() {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.extended_key_usages = usages;
        let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}
