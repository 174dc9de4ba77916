use std::net::SocketAddr;

use super::*;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

fn from_toml(text: &str) -> Result<Config, String> {
    let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

#[test]
fn quick_mode_routes_everything_to_one_group() {
    let config = Config::quick(
        addr("127.0.0.1:8080"),
        vec![addr("127.0.0.1:3001")],
        None,
        None,
    )
    .expect("valid quick config");
    assert_eq!(config.admin.addr, addr("127.0.0.1:8081"));
    let routes = config.effective_routes();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].upstream.as_deref(), Some(QUICK_UPSTREAM));
}

#[test]
fn quick_mode_needs_a_backend() {
    let error = Config::quick(addr("127.0.0.1:8080"), vec![], None, None).expect_err("no backends");
    assert!(error.to_string().contains("--backend"), "{error}");
}

#[test]
fn defaults_fill_everything_but_the_upstreams() {
    let config = from_toml("[upstreams.app]\nbackends = [{ addr = \"127.0.0.1:3001\" }]\n")
        .expect("minimal config");
    assert_eq!(config.listeners[0].addr, addr("0.0.0.0:8080"));
    assert_eq!(config.timeouts.connect_ms, 1_000);
    assert_eq!(config.server.grace_period_secs, 5);
    assert!(
        config.server.trusted_proxies.blocks().is_empty(),
        "the proxy trusts no client's forwarding headers by default"
    );
    assert!(config.public.deny_paths.contains(&"/metrics".to_owned()));
}

#[test]
fn several_upstreams_need_routes() {
    let error = from_toml(
        "[upstreams.a]\nbackends = [{ addr = \"127.0.0.1:3001\" }]\n\
         [upstreams.b]\nbackends = [{ addr = \"127.0.0.1:3002\" }]\n",
    )
    .expect_err("ambiguous");
    assert!(error.contains("`routes`"), "{error}");
}

#[test]
fn a_route_cannot_both_deny_and_forward() {
    let error = from_toml(
        "[[routes]]\npath_prefix = \"/x\"\nupstream = \"app\"\ndeny = true\n\
         [upstreams.app]\nbackends = [{ addr = \"127.0.0.1:3001\" }]\n",
    )
    .expect_err("contradictory route");
    assert!(error.contains("`routes[0]`"), "{error}");
}

#[test]
fn route_labels_prefer_the_name_then_host_and_prefix() {
    let mut route = RouteConfig::catch_all("app");
    assert_eq!(route.label(), "/");
    route.host = Some("api.example".into());
    assert_eq!(route.label(), "api.example/");
    route.name = Some("api".into());
    assert_eq!(route.label(), "api");
}

#[test]
fn cache_sizes_parse_with_units() {
    use super::parse_size;
    assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
    assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
    assert_eq!(parse_size("1gib"), Ok(1 << 30));
    assert_eq!(parse_size("4096"), Ok(4096));
    assert!(parse_size("0").is_err());
    assert!(parse_size("12 parsecs").is_err());
    let quick = Config::quick(
        addr("127.0.0.1:8080"),
        vec![addr("127.0.0.1:3001")],
        None,
        Some(1 << 20),
    )
    .expect("quick config with a cache");
    assert!(quick.cache.enabled);
    assert_eq!(quick.cache.max_size_bytes, 1 << 20);
}

fn load(text: &str) -> Result<Config, String> {
    let path = std::env::temp_dir().join(format!(
        "flotilla-proxy-config-{}-{}.toml",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::write(&path, text).expect("write config");
    let loaded = Config::load(&path).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    loaded
}

#[test]
fn addresses_are_parsed_as_the_file_loads_and_named_by_key() {
    let config = load(
        "[[listeners]]\naddr = \"localhost:8080\"\n[admin]\naddr = \"localhost:8081\"\n\
         [upstreams.app]\nbackends = [{ addr = \"localhost:3001\" }]\n",
    )
    .expect("localhost everywhere");
    assert_eq!(config.listeners[0].addr, addr("127.0.0.1:8080"));
    assert_eq!(config.admin.addr, addr("127.0.0.1:8081"));
    assert_eq!(
        config.upstreams["app"].static_members()[0].0,
        addr("127.0.0.1:3001")
    );

    let error =
        load("[upstreams.app]\nbackends = [{ addr = \"127.0.0.1:1\" }, { addr = \"app:80\" }]\n")
            .expect_err("a name");
    assert!(
        error.starts_with(
            "`upstreams.app.backends[1].addr`: `app:80` is not an `ip:port` socket address"
        ),
        "{error}"
    );
    assert!(error.contains("use `dns` for names"), "{error}");
}

#[test]
fn cache_key_query_and_the_targeted_field_are_read_and_checked() {
    let backends = "[upstreams.app]\nbackends = [{ addr = \"127.0.0.1:3001\" }]\n";
    let route = |value: &str| {
        from_toml(&format!(
            "{backends}[[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\ncache_key_query = {value}\n"
        ))
    };
    let only = route("[\"page\"]").expect("a list");
    assert_eq!(
        only.routes[0].cache_key_query,
        CacheKeyQuery::Only(vec!["page".to_owned()])
    );
    assert_eq!(
        route("\"none\"").expect("none").routes[0].cache_key_query,
        CacheKeyQuery::None
    );
    let error = route("\"some\"").expect_err("an unknown word");
    assert!(
        error.contains("cache_key_query") && error.contains("`some`"),
        "{error}"
    );
    let defaults = from_toml(backends).expect("defaults");
    assert_eq!(
        defaults.cache.targeted_cache_control,
        "Flotilla-Cache-Control"
    );
    let bad = from_toml(&format!(
        "[cache]\nenabled = true\ntargeted_cache_control = \"not a name\"\n{backends}"
    ))
    .expect_err("not a header name");
    assert!(bad.contains("cache.targeted_cache_control"), "{bad}");
}

const ONE_UPSTREAM: &str = "[upstreams.app]\nbackends = [{ addr = \"127.0.0.1:3001\" }]\n";

#[test]
fn an_acme_listener_needs_the_tls_acme_table() {
    let error = from_toml(&format!(
        "[[listeners]]\naddr = \"127.0.0.1:8080\"\n\
         [[listeners]]\naddr = \"127.0.0.1:8443\"\ntls = {{ acme = true }}\n{ONE_UPSTREAM}"
    ))
    .expect_err("no [tls.acme]");
    assert!(error.contains("`listeners[1].tls.acme`"), "{error}");
}

#[test]
fn tls_acme_needs_a_plain_listener_for_http_01_and_a_listener_that_uses_it() {
    let acme = "[tls.acme]\ndomains = [\"www.example.com\"]\n";
    let error = from_toml(&format!(
        "[[listeners]]\naddr = \"127.0.0.1:8443\"\ntls = {{ acme = true }}\n{acme}{ONE_UPSTREAM}"
    ))
    .expect_err("no plain listener");
    assert!(
        error.contains("`tls.acme`") && error.contains("HTTP-01"),
        "{error}"
    );
    let error = from_toml(&format!("{acme}{ONE_UPSTREAM}")).expect_err("unused");
    assert!(
        error.contains("`tls.acme`") && error.contains("no listener"),
        "{error}"
    );
    let config = from_toml(&format!(
        "[[listeners]]\naddr = \"127.0.0.1:8080\"\n\
         [[listeners]]\naddr = \"127.0.0.1:8443\"\ntls = {{ acme = true }}\n{acme}{ONE_UPSTREAM}"
    ))
    .expect("valid");
    assert_eq!(
        config.listeners[1].tls.as_ref().and_then(TlsConfig::source),
        Some(TlsSource::Acme)
    );
}

#[test]
fn a_listener_takes_files_or_acme_not_both_nor_half() {
    for tls in [
        "{ acme = true, cert_path = \"c.pem\", key_path = \"k.pem\" }",
        "{ cert_path = \"c.pem\" }",
    ] {
        let error = from_toml(&format!(
            "[[listeners]]\naddr = \"127.0.0.1:8443\"\ntls = {tls}\n{ONE_UPSTREAM}"
        ))
        .expect_err(tls);
        assert!(error.contains("`listeners[0].tls`"), "{tls}: {error}");
    }
}
