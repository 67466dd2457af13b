//! A real OpenLDAP server for the LDAP source's tests: Debian's slapd started as this test's
//! child on free ports, with a generated `slapd.conf`, an mdb database loaded with slapadd
//! before it starts, LDAPS and StartTLS with a certificate from the test CA, and
//! `sizelimit 3` (paged searches unlimited in total, as Active Directory's MaxPageSize), so
//! that only a paged search gets more than 3 entries. The tests bind as `cn=reader`, not as
//! the rootdn, which no limit applies to.
//!
//! Without /usr/sbin/slapd the tests are skipped, unless `PG_REQUIRE_SLAPD=1` (CI) makes that a
//! failure.

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SCHEMA: &str = "/etc/ldap/schema";
const MODULES: &str = "/usr/lib/ldap";

pub const SUFFIX: &str = "dc=example,dc=com";
pub const READER_DN: &str = "cn=reader,dc=example,dc=com";
pub const READER_PW: &str = "reader-secret";
pub const DEPARTMENTS: &str = "ou=departments,dc=example,dc=com";
pub const PEOPLE: &str = "ou=people,dc=example,dc=com";
/// One person whose department is 300 characters long (a name the directory refuses).
pub const CONTRACTORS: &str = "ou=contractors,dc=example,dc=com";

/// The OUs under `ou=departments` (besides `departments` itself).
pub const OUS: [&str; 7] = [
    "HR",
    "Sales",
    "Legal",
    "Finance",
    "Engineering",
    "Support",
    "Recherche & Développement",
];

/// The people's `departmentNumber` values, one person a row (the last has two, one none):
/// 10 people, 6 distinct values.
pub const PEOPLE_DEPARTMENTS: [&[&str]; 10] = [
    &["HR"],
    &["HR"],
    &["Sales"],
    &["Engineering"],
    &["Engineering"],
    &["Engineering"],
    &["Legal"],
    &["Recherche & Développement"],
    &[],
    &["Finance", "Sales"],
];

/// A running slapd, killed on drop.
pub struct Slapd {
    child: Child,
    /// `ldap://127.0.0.1:PORT` (clear, or StartTLS).
    pub ldap_url: String,
    /// `ldaps://127.0.0.1:PORT2`.
    pub ldaps_url: String,
    /// The test CA that signed the server's certificate.
    pub ca_pem: String,
    _dir: tempfile::TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Slapd {
    /// Whether slapd is installed here.
    pub fn available() -> bool {
        Path::new(SLAPD).exists() && Path::new(SLAPADD).exists()
    }

    /// Starts slapd; `None` (the test is skipped) when it is not installed and
    /// `PG_REQUIRE_SLAPD` is not set.
    pub fn start() -> Option<Slapd> {
        let required = std::env::var("PG_REQUIRE_SLAPD").is_ok_and(|v| v == "1");
        if !Slapd::available() {
            assert!(
                !required,
                "PG_REQUIRE_SLAPD=1 but {SLAPD} is missing: apt-get install -y slapd ldap-utils"
            );
            eprintln!(
                "SKIPPED: {SLAPD} is not installed (set PG_REQUIRE_SLAPD=1 to make this a failure)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("slapd dir");
        let (cert, key, ca_pem) = crate::support::tls::generate(&dir.path().join("tls"));
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db).expect("db dir");
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, config(dir.path(), &cert, &key)).expect("slapd.conf");
        let ldif = dir.path().join("data.ldif");
        std::fs::write(&ldif, directory()).expect("data.ldif");
        let out = Command::new(SLAPADD)
            .arg("-q")
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&ldif)
            .output()
            .expect("run slapadd");
        assert!(
            out.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Free ports are picked and released before slapd binds them: another process may
        // take one in between, so a slapd that exits is started again on new ones.
        for _ in 0..5 {
            let (p1, p2) = (free_port(), free_port());
            if p1 == p2 {
                continue;
            }
            let mut child = Command::new(SLAPD)
                .arg("-f")
                .arg(&conf)
                .arg("-h")
                .arg(format!("ldap://127.0.0.1:{p1}/ ldaps://127.0.0.1:{p2}/"))
                // A debug level keeps slapd in the foreground, as this test's child.
                .arg("-d")
                .arg("0")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start slapd");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if accepts(p1) && accepts(p2) {
                    return Some(Slapd {
                        child,
                        ldap_url: format!("ldap://127.0.0.1:{p1}"),
                        ldaps_url: format!("ldaps://127.0.0.1:{p2}"),
                        ca_pem,
                        _dir: dir,
                    });
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("slapd did not listen within 10 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let out = child.wait_with_output().expect("slapd output");
            eprintln!(
                "slapd exited ({}), trying other ports: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!("slapd did not start on five pairs of ports");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn config(dir: &Path, cert: &Path, key: &Path) -> String {
    let d = dir.display();
    format!(
        "include {SCHEMA}/core.schema
include {SCHEMA}/cosine.schema
include {SCHEMA}/inetorgperson.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath {MODULES}
moduleload back_mdb
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
sizelimit size=3 size.prtotal=unlimited

database mdb
maxsize 10485760
suffix \"{SUFFIX}\"
rootdn \"cn=admin,{SUFFIX}\"
rootpw admin-secret
directory {d}/db
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
",
        cert = cert.display(),
        key = key.display(),
    )
}

/// An LDIF line, base64 when the value is not plain ASCII (LDIF's rule).
fn line(out: &mut String, attr: &str, value: &str) {
    let plain = value.is_ascii()
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ')
        && !value.contains(['\n', '\r', '\0']);
    if plain {
        let _ = writeln!(out, "{attr}: {value}");
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        let _ = writeln!(out, "{attr}:: {b64}");
    }
}

fn directory() -> String {
    let mut o = String::new();
    let mut entry = |dn: &str, attrs: &[(&str, &str)]| {
        line(&mut o, "dn", dn);
        for (a, v) in attrs {
            line(&mut o, a, v);
        }
        o.push('\n');
    };
    entry(
        SUFFIX,
        &[
            ("objectClass", "dcObject"),
            ("objectClass", "organization"),
            ("o", "Example"),
            ("dc", "example"),
        ],
    );
    entry(
        READER_DN,
        &[
            ("objectClass", "organizationalRole"),
            ("objectClass", "simpleSecurityObject"),
            ("cn", "reader"),
            ("userPassword", READER_PW),
        ],
    );
    for (dn, ou) in [
        (DEPARTMENTS, "departments"),
        (PEOPLE, "people"),
        (CONTRACTORS, "contractors"),
    ] {
        entry(dn, &[("objectClass", "organizationalUnit"), ("ou", ou)]);
    }
    for ou in OUS {
        entry(
            &format!("ou={ou},{DEPARTMENTS}"),
            &[("objectClass", "organizationalUnit"), ("ou", ou)],
        );
    }
    for (i, depts) in PEOPLE_DEPARTMENTS.iter().enumerate() {
        let uid = format!("user{}", i + 1);
        let mut attrs = vec![
            ("objectClass", "inetOrgPerson"),
            ("uid", uid.as_str()),
            ("cn", uid.as_str()),
            ("sn", "Tester"),
        ];
        attrs.extend(depts.iter().map(|d| ("departmentNumber", *d)));
        entry(&format!("uid={uid},{PEOPLE}"), &attrs);
    }
    let long = "x".repeat(300);
    entry(
        &format!("uid=contractor1,{CONTRACTORS}"),
        &[
            ("objectClass", "inetOrgPerson"),
            ("uid", "contractor1"),
            ("cn", "contractor1"),
            ("sn", "Tester"),
            ("departmentNumber", &long),
        ],
    );
    o
}
