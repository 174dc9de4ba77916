use std::net::SocketAddr;

use pingora::http::RequestHeader;

use super::{Listeners, location};
use crate::config::{ListenerConfig, TlsConfig};

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

fn tls(listen: &str) -> ListenerConfig {
    ListenerConfig {
        tls: Some(TlsConfig {
            cert_path: Some("cert.pem".into()),
            key_path: Some("key.pem".into()),
            acme: false,
        }),
        ..ListenerConfig::plain(addr(listen))
    }
}

fn redirecting(listen: &str) -> ListenerConfig {
    ListenerConfig {
        redirect_to_https: true,
        ..ListenerConfig::plain(addr(listen))
    }
}

fn request(target: &str, host: Option<&str>) -> RequestHeader {
    let mut req = RequestHeader::build("GET", target.as_bytes(), None).expect("request");
    // As the HTTP/1 parser does for an absolute-form target.
    req.set_uri(target.parse().expect("uri"));
    if let Some(host) = host {
        req.insert_header("host", host).expect("host");
    }
    req
}

#[test]
fn the_redirect_names_the_first_tls_port_unless_it_is_443() {
    let listeners = Listeners::from_config(&[
        redirecting("0.0.0.0:80"),
        tls("0.0.0.0:8443"),
        tls("0.0.0.0:9443"),
    ]);
    let policy = listeners
        .policy_for(Some(addr("10.1.2.3:80")))
        .expect("found");
    assert_eq!(policy.redirect.as_deref(), Some(":8443"));

    let listeners = Listeners::from_config(&[redirecting("0.0.0.0:80"), tls("0.0.0.0:443")]);
    let policy = listeners
        .policy_for(Some(addr("10.1.2.3:80")))
        .expect("found");
    assert_eq!(policy.redirect.as_deref(), Some(""));
}

#[test]
fn a_connection_finds_its_listener_by_exact_address_then_by_port() {
    let hsts = ListenerConfig {
        hsts_max_age_secs: Some(60),
        hsts_include_subdomains: true,
        ..tls("127.0.0.1:8443")
    };
    let listeners = Listeners::from_config(&[redirecting("0.0.0.0:8080"), hsts]);
    assert!(!listeners.is_inert());

    let https = listeners
        .policy_for(Some(addr("127.0.0.1:8443")))
        .expect("found");
    assert_eq!(
        https.hsts().map(|v| v.to_str().expect("text")),
        Some("max-age=60; includeSubDomains")
    );
    assert!(https.redirect.is_none());

    let plain = listeners
        .policy_for(Some(addr("192.168.0.9:8080")))
        .expect("found");
    assert!(plain.redirect.is_some() && plain.hsts().is_none());

    for unknown in [Some(addr("192.168.0.9:8443")), Some(addr("[::1]:9")), None] {
        assert!(listeners.policy_for(unknown).is_none(), "{unknown:?}");
    }
}

#[test]
fn listeners_without_the_keys_are_inert() {
    let listeners = Listeners::from_config(&[
        ListenerConfig::plain(addr("0.0.0.0:80")),
        tls("0.0.0.0:443"),
    ]);
    assert!(listeners.is_inert());
}

#[test]
fn the_location_keeps_path_and_query_and_drops_the_port() {
    let cases = [
        (
            "/a/b?x=1&y=2",
            Some("Example.COM:80"),
            "https://example.com:8443/a/b?x=1&y=2",
        ),
        ("/", Some("[::1]:8080"), "https://[::1]:8443/"),
        ("/p", Some("10.0.0.1"), "https://10.0.0.1:8443/p"),
        (
            "http://origin.test:80/abs?q",
            None,
            "https://origin.test:8443/abs?q",
        ),
        (
            "//evil.test/x",
            Some("good.test"),
            "https://good.test:8443//evil.test/x",
        ),
    ];
    for (target, host, want) in cases {
        assert_eq!(
            location(&request(target, host), ":8443").as_deref(),
            Ok(want),
            "{target} with Host {host:?}"
        );
    }
}

#[test]
fn no_host_or_a_bad_one_is_refused_not_redirected() {
    for host in [
        None,
        Some("evil.test/x"),
        Some("a b"),
        Some("user@evil.test"),
        Some("h:99999"),
    ] {
        let refused = location(&request("/", host), "").expect_err("refused");
        assert_eq!(refused.status, 400, "Host {host:?}");
    }
}
