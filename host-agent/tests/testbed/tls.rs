//! A private PKI for the testbed, made with `openssl` the way an RKE2 (or
//! Harvester) cluster's etcd has one: a CA of its own, one certificate per
//! etcd member with the member's address as IP SAN (its server and its peer
//! certificate), and client certificates.
//!
//! ```text
//!   DIR/NAME-ca.crt, NAME-ca.key             the CA (CA:TRUE, keyCertSign)
//!   DIR/NAME-SUBJECT.crt, NAME-SUBJECT.key   what it issued
//! ```
//!
//! Server certificates carry both `serverAuth` and `clientAuth`: etcd uses
//! a member's certificate for its peer connections both ways and for its
//! own gateway's dial to its client port, which `--client-cert-auth` checks
//! like any client. The CA's and the members' keys are P-256 in SEC1 form
//! (`EC PRIVATE KEY`, what RKE2 writes); a client's may also be P-256 in
//! PKCS#8 (`PRIVATE KEY`) or RSA in PKCS#1 (`RSA PRIVATE KEY`, kubeadm's).
//!
//! Nothing here is secret: the files live in the testbed's temp directory
//! and go with it.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// What this module runs.
pub const TOOLS: &[&str] = &["openssl"];

/// How long every certificate is valid, in days (a test lasts minutes).
const DAYS: &str = "2";

/// A certificate's purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// An etcd member: IP SAN `addr`, `serverAuth` and `clientAuth`.
    Server { addr: Ipv4Addr },
    /// A client (vipd, etcdctl): `clientAuth` only, no SAN.
    Client,
}

/// A private key's type and PEM form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// P-256, `-----BEGIN EC PRIVATE KEY-----` (SEC1, RFC 5915), as RKE2
    /// and k3s write them.
    Sec1,
    /// P-256, `-----BEGIN PRIVATE KEY-----` (PKCS#8), `openssl genpkey`'s.
    Pkcs8,
    /// RSA 2048, `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1), as kubeadm
    /// writes its etcd client keys.
    RsaPkcs1,
}

/// A certificate and its private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A private CA whose files live in `dir`.
#[derive(Debug)]
pub struct Ca {
    /// `NAME`, the prefix of every file it writes and its subject's CN.
    pub name: String,
    /// The CA certificate (what a client's `ca_file` names) and its key.
    pub pair: Pair,
    dir: PathBuf,
}

/// Serial numbers, unique within a test process.
static SERIAL: AtomicU64 = AtomicU64::new(1);

impl Ca {
    /// Makes a new CA in `dir` (created if missing): an EC key and a
    /// self-signed certificate, CN `NAME`.
    pub fn new(dir: &Path, name: &str) -> Result<Ca, String> {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let pair = Pair {
            cert: dir.join(format!("{name}-ca.crt")),
            key: dir.join(format!("{name}-ca.key")),
        };
        new_key(&pair.key, KeyForm::Sec1)?;
        let conf = dir.join(format!("{name}-ca.cnf"));
        write(
            &conf,
            "[req]\n\
             distinguished_name = dn\n\
             prompt = no\n\
             [dn]\n\
             CN = unused\n\
             [ext]\n\
             basicConstraints = critical, CA:TRUE\n\
             keyUsage = critical, keyCertSign, cRLSign, digitalSignature\n\
             subjectKeyIdentifier = hash\n",
        )?;
        run(openssl()
            .arg("req")
            .arg("-x509")
            .arg("-new")
            .arg("-config")
            .arg(&conf)
            .arg("-extensions")
            .arg("ext")
            .arg("-key")
            .arg(&pair.key)
            .arg("-subj")
            .arg(format!("/O=vipd testbed/CN={name}"))
            .arg("-sha256")
            .arg("-days")
            .arg(DAYS)
            .arg("-set_serial")
            .arg(serial())
            .arg("-out")
            .arg(&pair.cert))?;
        Ok(Ca {
            name: name.to_owned(),
            pair,
            dir: dir.to_path_buf(),
        })
    }

    /// The CA certificate (PEM), what `--trusted-ca-file` and
    /// `etcd.ca_file` name.
    pub fn cert(&self) -> &Path {
        &self.pair.cert
    }

    /// Issues a certificate for `subject` (its CN) with `usage`, its key in
    /// `form`: `DIR/NAME-SUBJECT.crt` and `.key`.
    pub fn issue(&self, subject: &str, usage: Usage, form: KeyForm) -> Result<Pair, String> {
        let base = format!("{}-{subject}", self.name);
        let pair = Pair {
            cert: self.dir.join(format!("{base}.crt")),
            key: self.dir.join(format!("{base}.key")),
        };
        let csr = self.dir.join(format!("{base}.csr"));
        let ext = self.dir.join(format!("{base}.ext"));
        new_key(&pair.key, form)?;
        run(openssl()
            .arg("req")
            .arg("-new")
            .arg("-key")
            .arg(&pair.key)
            .arg("-subj")
            .arg(format!("/O=vipd testbed/CN={subject}"))
            .arg("-out")
            .arg(&csr))?;
        let extensions = match usage {
            Usage::Server { addr } => format!(
                "basicConstraints = critical, CA:FALSE\n\
                 keyUsage = critical, digitalSignature, keyEncipherment\n\
                 extendedKeyUsage = serverAuth, clientAuth\n\
                 subjectAltName = IP:{addr}\n\
                 subjectKeyIdentifier = hash\n\
                 authorityKeyIdentifier = keyid\n"
            ),
            Usage::Client => "basicConstraints = critical, CA:FALSE\n\
                 keyUsage = critical, digitalSignature, keyEncipherment\n\
                 extendedKeyUsage = clientAuth\n\
                 subjectKeyIdentifier = hash\n\
                 authorityKeyIdentifier = keyid\n"
                .to_owned(),
        };
        write(&ext, &extensions)?;
        run(openssl()
            .arg("x509")
            .arg("-req")
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&self.pair.cert)
            .arg("-CAkey")
            .arg(&self.pair.key)
            .arg("-set_serial")
            .arg(serial())
            .arg("-sha256")
            .arg("-days")
            .arg(DAYS)
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&pair.cert))?;
        let _ = fs::remove_file(&csr);
        Ok(pair)
    }

    /// [`Ca::issue`] of a client certificate with an RKE2-style SEC1 key.
    pub fn client(&self, subject: &str) -> Result<Pair, String> {
        self.issue(subject, Usage::Client, KeyForm::Sec1)
    }

    /// [`Ca::issue`] of an etcd member's certificate for `addr`.
    pub fn server(&self, subject: &str, addr: Ipv4Addr) -> Result<Pair, String> {
        self.issue(subject, Usage::Server { addr }, KeyForm::Sec1)
    }
}

/// `openssl verify -CAfile CA CERT` succeeds.
pub fn verifies(ca: &Path, cert: &Path) -> bool {
    Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(ca)
        .arg(cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A fresh serial number, as `openssl -set_serial` takes it.
fn serial() -> String {
    // Distinct across test processes too (their CAs are distinct anyway).
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    format!("{}", u64::from(std::process::id()) << 20 | n)
}

/// A new key at `path`, mode 0600.
fn new_key(path: &Path, form: KeyForm) -> Result<(), String> {
    match form {
        KeyForm::Sec1 => run(openssl()
            .arg("ecparam")
            .arg("-name")
            .arg("prime256v1")
            .arg("-genkey")
            .arg("-noout")
            .arg("-out")
            .arg(path))?,
        KeyForm::Pkcs8 => run(openssl()
            .arg("genpkey")
            .arg("-algorithm")
            .arg("EC")
            .arg("-pkeyopt")
            .arg("ec_paramgen_curve:P-256")
            .arg("-out")
            .arg(path))?,
        KeyForm::RsaPkcs1 => run(openssl()
            .arg("genrsa")
            .arg("-traditional")
            .arg("-out")
            .arg(path)
            .arg("2048"))?,
    }
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

/// `openssl`, with no config of the host's in the way.
fn openssl() -> Command {
    let mut cmd = Command::new("openssl");
    cmd.env_remove("OPENSSL_CONF").stdin(Stdio::null());
    cmd
}

/// Runs `cmd`; `Err` with its stderr unless it succeeds.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
