//! The department directory's LDAP source against a real OpenLDAP server (support/ldap.rs):
//! OUs over LDAPS, a person attribute over StartTLS, paging past the server's size limit, a
//! wrong password, an untrusted certificate, a clear bind on loopback, a bad entry, and a
//! server that never answers.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use profilegate::outbound::FetchError;
use profilegate::sync::ldap::{fetch, LdapSource};
use profilegate::sync::SourceError;

use crate::support::ldap::{
    Slapd, CONTRACTORS, DEPARTMENTS, OUS, PEOPLE, PEOPLE_DEPARTMENTS, READER_DN, READER_PW,
};

fn ous(slapd: &Slapd) -> LdapSource {
    LdapSource {
        url: slapd.ldaps_url.clone(),
        bind_dn: READER_DN.into(),
        password: READER_PW.into(),
        base_dn: DEPARTMENTS.into(),
        filter: "(objectClass=organizationalUnit)".into(),
        attribute: "ou".into(),
        starttls: false,
        tls_ca_pem: Some(slapd.ca_pem.clone()),
        timeout_ms: 5000,
        page_size: 2,
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ous_over_ldaps_with_the_test_ca() {
    let Some(slapd) = Slapd::start() else { return };
    // A subtree search matches its base too: `departments` comes back with the seven.
    let mut s = ous(&slapd);
    let mut want: Vec<&str> = OUS.to_vec();
    want.push("departments");
    assert_eq!(fetch(&s).await.unwrap(), set(&want));
    // The filter an administrator would write to leave the container out.
    s.filter = "(&(objectClass=organizationalUnit)(!(ou=departments)))".into();
    let got = fetch(&s).await.unwrap();
    assert_eq!(got, set(&OUS));
    assert!(got.contains("Recherche & Développement"), "{got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_attribute_over_starttls_gives_its_distinct_values() {
    let Some(slapd) = Slapd::start() else { return };
    let s = LdapSource {
        url: slapd.ldap_url.clone(),
        starttls: true,
        base_dn: PEOPLE.into(),
        filter: "(objectClass=inetOrgPerson)".into(),
        // Asked for in another case than the schema's: the server answers `departmentNumber`.
        attribute: "departmentnumber".into(),
        ..ous(&slapd)
    };
    let got = fetch(&s).await.unwrap();
    let want: BTreeSet<String> = PEOPLE_DEPARTMENTS
        .iter()
        .flat_map(|d| d.iter().map(|s| s.to_string()))
        .collect();
    assert_eq!(want.len(), 6);
    assert!(want.len() < PEOPLE_DEPARTMENTS.len());
    assert_eq!(got, want);
}

/// The server's size limit (3) cuts an unpaged search short; the source's paged search gets
/// all 8 entries, whatever the page size.
#[tokio::test(flavor = "multi_thread")]
async fn paging_gets_more_entries_than_the_size_limit() {
    use ldap3::{LdapConnAsync, Scope};
    let Some(slapd) = Slapd::start() else { return };
    let (conn, mut ldap) = LdapConnAsync::new(&slapd.ldap_url).await.unwrap();
    let driver = tokio::spawn(conn.drive());
    ldap.simple_bind(READER_DN, READER_PW)
        .await
        .unwrap()
        .success()
        .unwrap();
    let ldap3::SearchResult(entries, result) = ldap
        .search(
            DEPARTMENTS,
            Scope::Subtree,
            "(objectClass=organizationalUnit)",
            vec!["ou"],
        )
        .await
        .unwrap();
    assert_eq!(
        (entries.len(), result.rc),
        (3, 4),
        "an unpaged search stops at the size limit"
    );
    ldap.unbind().await.unwrap();
    driver.abort();

    for page_size in [1, 2, 3, 500] {
        let s = LdapSource {
            page_size,
            ..ous(&slapd)
        };
        assert_eq!(
            fetch(&s).await.unwrap().len(),
            OUS.len() + 1,
            "page size {page_size}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_an_untrusted_server_and_a_bad_entry_give_no_list() {
    let Some(slapd) = Slapd::start() else { return };
    let wrong = LdapSource {
        password: "not-the-password".into(),
        ..ous(&slapd)
    };
    let e = fetch(&wrong).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("the bind was refused (LDAP result 49)"),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");

    for untrusted in [
        LdapSource {
            tls_ca_pem: None,
            ..ous(&slapd)
        },
        LdapSource {
            url: slapd.ldap_url.clone(),
            starttls: true,
            tls_ca_pem: None,
            ..ous(&slapd)
        },
    ] {
        let e = fetch(&untrusted).await.unwrap_err().to_string();
        assert!(e.contains("TLS"), "{e}");
        assert!(
            e.contains("the TLS handshake failed: invalid peer certificate"),
            "{e}"
        );
    }

    let bad = LdapSource {
        base_dn: CONTRACTORS.into(),
        filter: "(objectClass=inetOrgPerson)".into(),
        attribute: "departmentNumber".into(),
        ..ous(&slapd)
    };
    let e = fetch(&bad).await.unwrap_err().to_string();
    assert!(e.contains("entry 1:"), "{e}");
    assert!(!e.contains("xxxx"), "the entry's value is not quoted: {e}");

    let missing = LdapSource {
        base_dn: "ou=nowhere,dc=example,dc=com".into(),
        ..ous(&slapd)
    };
    let e = fetch(&missing).await.unwrap_err().to_string();
    assert!(e.contains("LDAP result 32"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clear_bind_works_on_loopback_only() {
    let Some(slapd) = Slapd::start() else { return };
    let clear = LdapSource {
        url: slapd.ldap_url.clone(),
        tls_ca_pem: None,
        ..ous(&slapd)
    };
    assert_eq!(fetch(&clear).await.unwrap().len(), OUS.len() + 1);
    // The same off loopback is refused before any connection.
    let off = LdapSource {
        url: "ldap://ldap.example.com:389".into(),
        ..clear
    };
    let e = fetch(&off).await.unwrap_err().to_string();
    assert!(e.contains("never a clear bind off loopback"), "{e}");
}

/// A server that accepts and never speaks: the whole exchange ends at the time limit.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    for (url, starttls) in [
        (format!("ldap://127.0.0.1:{port}"), false),
        (format!("ldap://127.0.0.1:{port}"), true),
        (format!("ldaps://127.0.0.1:{port}"), false),
    ] {
        let s = LdapSource {
            url: url.clone(),
            bind_dn: READER_DN.into(),
            password: READER_PW.into(),
            base_dn: DEPARTMENTS.into(),
            filter: "(objectClass=organizationalUnit)".into(),
            attribute: "ou".into(),
            starttls,
            tls_ca_pem: None,
            timeout_ms: 300,
            page_size: 500,
        };
        let t = Instant::now();
        let e = fetch(&s).await.unwrap_err();
        assert_eq!(e, SourceError::Fetch(FetchError::Timeout(300)), "{url}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
    held.abort();
}
