use std::net::SocketAddr;

use super::{Balance, ExpectedStatus, HashKey, UpstreamConfig};

fn parse(text: &str) -> Result<UpstreamConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

fn error(text: &str) -> String {
    let config = parse(text).expect("parses");
    config
        .validate("app")
        .expect_err("validation fails")
        .to_string()
}

#[test]
fn full_example_parses_with_every_field() {
    let config = parse(
        r#"
        backends = [{ addr = "127.0.0.1:3001" }, { addr = "127.0.0.1:3002", weight = 2 }]
        balance = "consistent_hash"
        hash_key = "header:x-user-id"
        slow_start_ms = 5000
        [health]
        path = "/readyz"
        interval_ms = 250
        timeout_ms = 100
        rise = 3
        fall = 4
        expected_status = [200, 204]
        [passive]
        failures_to_eject = 2
        eject_on_5xx = false
        base_ejection_ms = 100
        max_ejection_ms = 1000
        [retry]
        max_attempts = 2
        budget_ratio = 0.1
        budget_min_retries_per_sec = 1
        "#,
    )
    .expect("parses");
    config.validate("app").expect("valid");
    assert_eq!(config.balance, Balance::ConsistentHash);
    assert_eq!(
        config.static_members()[1],
        ("127.0.0.1:3002".parse().expect("addr"), 2)
    );
    assert_eq!(config.health.expected_status.codes(), &[200, 204]);
    assert_eq!(config.passive.failures_to_eject, 2);
    assert_eq!(config.retry.max_attempts, 2);
}

#[test]
fn defaults_fill_missing_tables_and_fields() {
    let config = parse(r#"backends = [{ addr = "127.0.0.1:3001" }]"#).expect("parses");
    config.validate("app").expect("valid");
    assert_eq!(config.balance, Balance::RoundRobin);
    assert_eq!(config.health.path, "/healthz");
    assert_eq!(config.health.interval_ms, 1000);
    assert_eq!(config.health.timeout_ms, 500);
    assert_eq!((config.health.rise, config.health.fall), (2, 2));
    assert_eq!(config.health.expected_status, ExpectedStatus::One(200));
    assert_eq!(config.passive.failures_to_eject, 1);
    assert_eq!(config.retry.max_attempts, 3);
    assert_eq!(config.static_members()[0].1, 1);
}

#[test]
fn from_addrs_is_quick_mode_and_valid() {
    let addrs: Vec<SocketAddr> = vec![
        "127.0.0.1:3001".parse().expect("addr"),
        "127.0.0.1:3002".parse().expect("addr"),
    ];
    let config = UpstreamConfig::from_addrs(addrs.clone());
    config.validate("default").expect("valid");
    assert_eq!(config.balance, Balance::RoundRobin);
    assert!(config.health.enabled);
    assert_eq!(config.health.path, "/healthz");
    assert_eq!(config.health.interval_ms, 1000);
    assert_eq!(config.retry.max_attempts, 3);
    let members: Vec<SocketAddr> = config.static_members().into_iter().map(|m| m.0).collect();
    assert_eq!(members, addrs);
}

#[test]
fn the_three_hash_key_kinds_parse() {
    let key = |text: &str| HashKey::try_from(text.to_owned());
    assert_eq!(
        key("header:X-User-Id"),
        Ok(HashKey::Header(http::HeaderName::from_static("x-user-id")))
    );
    assert_eq!(key("cookie:session"), Ok(HashKey::Cookie("session".into())));
    assert_eq!(key("client_ip"), Ok(HashKey::ClientIp));
    assert!(key("header:bad header").is_err());
    assert!(key("cookie:").is_err());
    assert!(
        key("query:id")
            .expect_err("unknown kind")
            .contains("header:NAME")
    );
    assert_eq!(String::from(HashKey::Cookie("sid".into())), "cookie:sid");
}

#[test]
fn unknown_keys_are_rejected_in_every_table() {
    for text in [
        r#"backends = [{ addr = "127.0.0.1:1" }]
           balanse = "round_robin""#,
        r#"backends = [{ addr = "127.0.0.1:1", wieght = 2 }]"#,
        r#"backends = [{ addr = "127.0.0.1:1" }]
           [health]
           intervall_ms = 5"#,
        r#"backends = [{ addr = "127.0.0.1:1" }]
           [passive]
           eject = true"#,
        r#"backends = [{ addr = "127.0.0.1:1" }]
           [retry]
           attempts = 2"#,
    ] {
        let err = parse(text).expect_err("unknown field");
        assert!(err.contains("unknown field"), "{err}");
    }
}

#[test]
fn validation_errors_name_the_full_key() {
    let cases = [
        (
            r#"backends = [{ addr = "127.0.0.1:80" }, { addr = "localhost:80" }]"#,
            "`upstreams.app.backends[1].addr`: `127.0.0.1:80` is listed twice",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               balance = "consistent_hash""#,
            "`upstreams.app.hash_key`: required when balance = consistent_hash",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               hash_key = "client_ip""#,
            "`upstreams.app.hash_key`: only used when balance = consistent_hash",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1", weight = 0 }]"#,
            "`upstreams.app.backends[0].weight`",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }, { addr = "127.0.0.1:1" }]"#,
            "`upstreams.app.backends[1].addr`: `127.0.0.1:1` is listed twice",
        ),
        (
            r#"backends = []"#,
            "`upstreams.app.backends`: lists no backend",
        ),
        (r#"balance = "round_robin""#, "`upstreams.app`: needs"),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               dns = { name = "app", port = 3000 }"#,
            "`upstreams.app.dns`: give either",
        ),
        (
            r#"dns = { name = "app", port = 0 }"#,
            "`upstreams.app.dns.port`",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               health = { path = "healthz" }"#,
            "`upstreams.app.health.path`",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               health = { fall = 0 }"#,
            "`upstreams.app.health.fall`: must be at least 1",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               health = { expected_status = 999 }"#,
            "`upstreams.app.health.expected_status`",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               passive = { base_ejection_ms = 5000, max_ejection_ms = 1000 }"#,
            "`upstreams.app.passive.max_ejection_ms`",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               retry = { max_attempts = 0 }"#,
            "`upstreams.app.retry.max_attempts`",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               retry = { budget_ratio = 1.5 }"#,
            "`upstreams.app.retry.budget_ratio`",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               retry = { hedge_min_ms = 0 }"#,
            "`upstreams.app.retry.hedge_min_ms`",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               retry = { hedge_min_ms = 500, hedge_max_ms = 100 }"#,
            "`upstreams.app.retry.hedge_max_ms`",
        ),
        (
            r#"backends = [{ addr = "127.0.0.1:1" }]
               retry = { hedge_after_ms = 0 }"#,
            "`upstreams.app.retry.hedge_after_ms`",
        ),
    ];
    for (text, expected) in cases {
        let err = error(text);
        assert!(
            err.starts_with(expected),
            "{text}\n gave {err}\n wanted {expected}"
        );
    }
}

#[test]
fn a_backend_address_is_checked_as_it_is_read() {
    let config = parse(r#"backends = [{ addr = "localhost:3001" }, { addr = "[::1]:3001" }]"#)
        .expect("localhost and IPv6 parse");
    let members: Vec<SocketAddr> = config.static_members().into_iter().map(|m| m.0).collect();
    assert_eq!(
        members,
        vec![
            "127.0.0.1:3001".parse().expect("addr"),
            "[::1]:3001".parse().expect("addr")
        ],
        "localhost is 127.0.0.1, never ::1"
    );

    let err =
        parse(r#"backends = [{ addr = "127.0.0.1:1" }, { addr = "app:80" }]"#).expect_err("a name");
    assert!(
        err.contains("`app:80` is not an `ip:port` socket address"),
        "{err}"
    );
    assert!(err.contains("use `dns` for names"), "{err}");

    let err = parse(r#"backends = [{ addr = "3001" }]"#).expect_err("a bare port");
    assert!(err.contains("`127.0.0.1:3001`"), "{err}");
}

#[test]
fn a_bad_hash_key_fails_at_parse_time_with_the_reason() {
    let err = parse(
        r#"backends = [{ addr = "127.0.0.1:1" }]
           balance = "consistent_hash"
           hash_key = "ip""#,
    )
    .expect_err("bad key");
    assert!(err.contains("is not a hash key"), "{err}");
}
