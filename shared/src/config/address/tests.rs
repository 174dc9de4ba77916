use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::{parse_ip, parse_socket_addr};

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

fn refused(text: &str) -> String {
    parse_socket_addr(text).expect_err("refused").to_string()
}

#[test]
fn ip_and_port_pass_as_they_are() {
    for text in [
        "127.0.0.1:3001",
        "0.0.0.0:8080",
        "[::1]:3001",
        "[::]:0",
        "10.1.2.3:65535",
    ] {
        assert_eq!(parse_socket_addr(text), Ok(addr(text)), "{text}");
    }
}

#[test]
fn localhost_is_ipv4_loopback_never_ipv6() {
    assert_eq!(
        parse_socket_addr("localhost:3001"),
        Ok(addr("127.0.0.1:3001"))
    );
    assert_eq!(parse_socket_addr("LocalHost:80"), Ok(addr("127.0.0.1:80")));
    assert_eq!(parse_ip("localhost"), Ok(IpAddr::from([127, 0, 0, 1])));
}

#[test]
fn other_names_are_refused_with_a_hint() {
    for text in ["app:3000", "example.com:443", "db-1.internal:5432"] {
        let error = parse_socket_addr(text).expect_err(text);
        assert!(error.is_host_name(), "{text}");
        let message = error.to_string();
        assert!(message.contains(&format!("`{text}`")), "{message}");
        assert!(message.contains("not resolved"), "{message}");
        assert!(message.contains("127.0.0.1:3001"), "{message}");
    }
    let message = parse_ip("app").expect_err("a name").to_string();
    assert!(message.contains("`app` is not an IP address"), "{message}");
    assert!(message.contains("not resolved"), "{message}");
}

#[test]
fn a_bare_port_or_a_bare_ip_says_what_is_missing() {
    let message = refused("8081");
    assert!(message.contains("socket address"), "{message}");
    assert!(message.contains("`127.0.0.1:8081`"), "{message}");
    assert!(message.contains("`0.0.0.0:8081`"), "{message}");

    for text in ["127.0.0.1", "localhost", "::1", "[::1]"] {
        let message = refused(text);
        assert!(message.contains("no port"), "{text}: {message}");
        assert!(message.contains("[::1]:3001"), "{text}: {message}");
    }
}

#[test]
fn garbage_is_refused_without_a_misleading_hint() {
    for text in [
        "nowhere",
        "",
        "127.0.0.300:80",
        "localhost:99999",
        "host_name:80",
        " 127.0.0.1:80",
    ] {
        let error = parse_socket_addr(text).expect_err(text);
        assert!(!error.is_host_name(), "{text}");
        assert!(
            error
                .to_string()
                .ends_with("is not an `ip:port` socket address"),
            "{text}: {error}"
        );
    }
    assert!(parse_ip("10.0.0.300").is_err());
    assert!(
        !parse_ip("10.0.0.300")
            .expect_err("bad")
            .to_string()
            .contains("resolved")
    );
}

#[derive(Debug, Deserialize)]
struct Listener {
    #[serde(deserialize_with = "super::deserialize_socket_addr")]
    addr: SocketAddr,
}

#[derive(Debug, Deserialize)]
struct Backend {
    #[serde(deserialize_with = "backend_addr")]
    addr: SocketAddr,
}

fn backend_addr<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    super::deserialize_socket_addr_or(deserializer, "use `dns` for names")
}

#[test]
fn deserializing_applies_the_same_rule() {
    let listener: Listener =
        serde_json::from_str(r#"{"addr": "localhost:8080"}"#).expect("localhost");
    assert_eq!(listener.addr, addr("127.0.0.1:8080"));

    let error = serde_json::from_str::<Listener>(r#"{"addr": "8080"}"#)
        .expect_err("a bare port")
        .to_string();
    assert!(error.contains("`127.0.0.1:8080`"), "{error}");

    let error = serde_json::from_str::<Listener>(r#"{"addr": 8080}"#)
        .expect_err("a number")
        .to_string();
    assert!(error.contains("`127.0.0.1:8080`"), "{error}");

    let error = serde_json::from_str::<Listener>(r#"{"addr": true}"#)
        .expect_err("not a string")
        .to_string();
    assert!(error.contains("`ip:port` socket address"), "{error}");
}

#[test]
fn a_caller_with_a_place_for_names_adds_it_to_the_name_error_only() {
    let backend: Backend =
        serde_json::from_str(r#"{"addr": "localhost:3001"}"#).expect("localhost");
    assert_eq!(backend.addr, addr("127.0.0.1:3001"));

    let error = serde_json::from_str::<Backend>(r#"{"addr": "app:3000"}"#)
        .expect_err("a name")
        .to_string();
    assert!(error.contains("not resolved"), "{error}");
    assert!(error.contains("; use `dns` for names"), "{error}");

    let error = serde_json::from_str::<Backend>(r#"{"addr": "nowhere"}"#)
        .expect_err("garbage")
        .to_string();
    assert!(!error.contains("dns"), "{error}");
}
