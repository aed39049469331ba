//! A throwaway OpenLDAP `slapd` for tests: its own CA and server certificate (openssl CLI),
//! plain LDAP (with StartTLS) and LDAPS on free 127.0.0.1 ports, base `dc=example,dc=com`,
//! users loaded with `ldapadd`; tests may add, change and delete entries ([`Slapd::add`],
//! [`Slapd::modify`], [`Slapd::delete`]). The server is killed when the handle is dropped.
//!
//! slapd, ldap-utils and openssl come from `scripts/test.sh`; without them the test fails and
//! says so (it does not skip).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Admin DN and password of the test directory.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
pub const ADMIN_PW: &str = "admin-secret";
pub const BASE_DN: &str = "ou=people,dc=example,dc=com";

/// Test users: (uid, password).
pub const USERS: &[(&str, &str)] = &[("alice", "alice-pw-1"), ("bob", "bob-pw-22")];

/// Where [`SYNC_LDIF`] puts its groups.
#[allow(dead_code, reason = "only the realm sync tests use it")]
pub const GROUP_BASE_DN: &str = "ou=groups,dc=example,dc=com";

/// For realm sync tests, on top of [`USERS`]: `carol` (givenName, sn, mail; password
/// `carol-pw-333`), the groupOfNames `admins` (alice, carol) and `devs` (bob), and the
/// posixGroup `posix` (memberUid alice), which Proxmox's default group classes do not read.
#[allow(dead_code, reason = "only the realm sync tests use it")]
pub const SYNC_LDIF: &str = "\
dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: carol
cn: Carol Jones
givenName: Carol
sn: Jones
mail: carol@example.com
userPassword: carol-pw-333

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: cn=admins,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,dc=example,dc=com
member: uid=carol,ou=people,dc=example,dc=com

dn: cn=devs,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: devs
member: uid=bob,ou=people,dc=example,dc=com

dn: cn=posix,ou=groups,dc=example,dc=com
objectClass: posixGroup
cn: posix
gidNumber: 5000
memberUid: alice
";

/// A running slapd.
pub struct Slapd {
    child: Child,
    /// Port of `ldap://` (plain and StartTLS).
    pub ldap_port: u16,
    /// Port of `ldaps://`.
    pub ldaps_port: u16,
    /// The CA that signed the server certificate (PEM file).
    pub ca_file: PathBuf,
    /// A CA that did not sign it (PEM file).
    pub other_ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Slapd {
    /// Start slapd and load the test users.
    pub fn start() -> Slapd {
        for tool in [
            "/usr/sbin/slapd",
            "/usr/bin/ldapadd",
            "/usr/bin/openssl",
            "/usr/sbin/slappasswd",
        ] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: run `bash scripts/test.sh` (as root) to install slapd, ldap-utils and openssl"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        fs::create_dir(d.join("db")).expect("db dir");
        make_certs(d);
        // A port picked here can be taken before slapd binds it (slapd then exits): started
        // again on fresh ports, up to three times.
        let mut attempt = 1;
        let (child, ldap_port, ldaps_port) = loop {
            match start_slapd(d) {
                Ok(started) => break started,
                Err(status) if attempt < 3 => {
                    eprintln!("slapd exited at start ({status}); again on fresh ports");
                    attempt += 1;
                }
                Err(status) => panic!("slapd exited at start ({status}), three times"),
            }
        };
        let slapd = Slapd {
            child,
            ldap_port,
            ldaps_port,
            ca_file: d.join("ca.pem"),
            other_ca_file: d.join("other-ca.pem"),
            _dir: dir,
        };
        slapd.load_users();
        slapd
    }

    fn load_users(&self) {
        let mut ldif = String::from(
            "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: people\n\n",
        );
        for (uid, pw) in USERS {
            ldif.push_str(&format!(
                "dn: uid={uid},{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {pw}\n\n"
            ));
        }
        let path = self._dir.path().join("data.ldif");
        fs::write(&path, ldif).expect("ldif");
        run_out(
            Command::new("/usr/bin/ldapadd")
                .args(["-x", "-H", &format!("ldap://127.0.0.1:{}", self.ldap_port)])
                .args(["-D", ADMIN_DN, "-w", ADMIN_PW, "-f"])
                .arg(&path),
        );
    }
}

/// Changes to the directory after start (the realm sync tests).
#[allow(dead_code, reason = "not every test that starts slapd changes it")]
impl Slapd {
    /// Add the entries of `ldif` (as the admin).
    pub fn add(&self, ldif: &str) {
        self.ldap_tool("/usr/bin/ldapadd", ldif);
    }

    /// Apply the changes of `ldif` (`changetype: modify` records, as the admin).
    pub fn modify(&self, ldif: &str) {
        self.ldap_tool("/usr/bin/ldapmodify", ldif);
    }

    /// Delete the entry `dn` (as the admin).
    pub fn delete(&self, dn: &str) {
        run_out(
            Command::new("/usr/bin/ldapdelete")
                .args(["-x", "-H", &format!("ldap://127.0.0.1:{}", self.ldap_port)])
                .args(["-D", ADMIN_DN, "-w", ADMIN_PW, dn]),
        );
    }

    fn ldap_tool(&self, tool: &str, ldif: &str) {
        let file = tempfile::NamedTempFile::new().expect("ldif file");
        fs::write(file.path(), ldif).expect("write ldif");
        run_out(
            Command::new(tool)
                .args(["-x", "-H", &format!("ldap://127.0.0.1:{}", self.ldap_port)])
                .args(["-D", ADMIN_DN, "-w", ADMIN_PW, "-f"])
                .arg(file.path()),
        );
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mini CA, a server certificate for 127.0.0.1 signed by it, and an unrelated second CA.
fn make_certs(d: &Path) {
    let openssl = |args: &[&str]| {
        run_out(Command::new("/usr/bin/openssl").current_dir(d).args(args));
    };
    for name in ["ca", "other-ca"] {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=aclgate-test-{name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "srv.csr",
    ]);
    fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext.cnf");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
}

/// slapd with its configuration in `d`, on two free ports; the exit status if it exited before
/// both accepted connections.
fn start_slapd(d: &Path) -> Result<(Child, u16, u16), std::process::ExitStatus> {
    let ldap_port = free_port();
    let ldaps_port = free_port();
    let rootpw = run_out(Command::new("/usr/sbin/slappasswd").args(["-s", ADMIN_PW]));
    let conf = format!(
        "include /etc/ldap/schema/core.schema\n\
         include /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/nis.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\n\
         modulepath /usr/lib/ldap\n\
         moduleload back_mdb\n\
         pidfile {d}/slapd.pid\n\
         TLSCACertificateFile {d}/ca.pem\n\
         TLSCertificateFile {d}/cert.pem\n\
         TLSCertificateKeyFile {d}/key.pem\n\
         TLSVerifyClient never\n\
         database mdb\n\
         maxsize 10485760\n\
         suffix \"dc=example,dc=com\"\n\
         rootdn \"{ADMIN_DN}\"\n\
         rootpw {rootpw}\n\
         directory {d}/db\n\
         access to attrs=userPassword by self write by anonymous auth by * none\n\
         access to * by * read\n",
        d = d.display(),
    );
    fs::write(d.join("slapd.conf"), conf).expect("slapd.conf");
    // -d 0 keeps slapd in the foreground, so the test owns the process and kills it.
    let mut child = Command::new("/usr/sbin/slapd")
        .arg("-f")
        .arg(d.join("slapd.conf"))
        .arg("-h")
        .arg(format!(
            "ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/"
        ))
        .args(["-d", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slapd");
    for port in [ldap_port, ldaps_port] {
        wait_for_port(&mut child, port)?;
    }
    Ok((child, ldap_port, ldaps_port))
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Poll until slapd accepts connections (it gives no other readiness signal), or has exited.
fn wait_for_port(child: &mut Child, port: u16) -> Result<(), std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().expect("slapd status") {
            return Err(status);
        }
        assert!(
            Instant::now() < deadline,
            "slapd did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn run_out(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
