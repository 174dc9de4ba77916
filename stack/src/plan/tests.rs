use std::ffi::OsString;
use std::net::SocketAddr;

use std::sync::{Mutex, MutexGuard, PoisonError};

use clap::Parser;
use shared::testing::{free_port, free_ports_in_a_row};

use super::Plan;
use crate::cli::Flags;

/// Plans are made one at a time: making one binds each of its ports for a moment, which
/// would make a port another test just picked look taken.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Stack flags on free loopback ports, room for the default three instances, and `extra`.
fn flags(extra: &[&str]) -> Flags {
    let ports = [free_port(), free_port(), free_ports_in_a_row(3)].map(|port| port.to_string());
    let mut argv = vec![
        "stack",
        "--port",
        &ports[0],
        "--admin-port",
        &ports[1],
        "--instance-port",
        &ports[2],
    ];
    argv.extend(extra);
    Flags::try_parse_from(argv).expect("stack flags")
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The instance's arguments as the app's own parser reads them (the subcommand stands in
/// for the program name), less whatever `JWT_SECRET` this test's environment holds.
fn app_flags(args: &[OsString]) -> app::config::Flags {
    let mut parsed =
        app::config::Flags::try_parse_from(args).expect("the app parses its arguments");
    parsed.jwt_secret = None;
    parsed
}

#[test]
fn instances_get_app_flags_that_the_app_parses_back() {
    let _turn = turn();
    let flags = flags(&[
        "--instances",
        "2",
        "--database-url",
        "sqlite://elsewhere/x.db",
    ]);
    let plan = Plan::from_flags(&flags).expect("plan");
    assert_eq!(plan.instances.len(), 2);
    for (index, instance) in plan.instances.iter().enumerate() {
        assert_eq!(instance.args[0], "app");
        let expected = app::config::Flags {
            listen: Some(loopback(flags.instance_port + index as u16)),
            database_url: Some("sqlite://elsewhere/x.db".to_owned()),
            instance_id: Some(format!("app-{}", index + 1)),
            ..app::config::Flags::default()
        };
        assert_eq!(app_flags(&instance.args), expected);
        assert_eq!(instance.addr, loopback(flags.instance_port + index as u16));
    }
}

#[test]
fn the_secret_goes_by_environment_never_by_argument() {
    let _turn = turn();
    let plan = Plan::from_flags(&flags(&[])).expect("plan");
    let secrets: Vec<&String> = plan
        .instances
        .iter()
        .map(|instance| {
            let (_, secret) = instance
                .env
                .iter()
                .find(|(name, _)| name == app::config::JWT_SECRET_ENV)
                .expect("the secret is in the environment");
            assert!(
                !instance
                    .args
                    .iter()
                    .any(|arg| arg.to_string_lossy().contains(secret.as_str())),
                "{:?}",
                instance.args
            );
            secret
        })
        .collect();
    assert!(secrets[0].len() >= app::config::MIN_JWT_SECRET_BYTES);
    assert!(
        secrets.iter().all(|secret| *secret == secrets[0]),
        "one secret per run"
    );
    assert!(
        plan.instances[0]
            .env
            .contains(&("APP__LOG_FORMAT".to_owned(), "human".to_owned()))
    );
}

#[test]
fn the_proxy_gets_quick_mode_flags_that_it_parses_back() {
    let _turn = turn();
    let flags = flags(&["--instances", "2", "--cache", "1MiB"]);
    let plan = Plan::from_flags(&flags).expect("plan");
    assert_eq!(plan.proxy.args[0], "proxy");
    let parsed = proxy::config::Cli::try_parse_from(&plan.proxy.args)
        .expect("the proxy parses its arguments");
    let expected = proxy::config::Cli {
        listen: Some(loopback(flags.port)),
        backends: vec![
            loopback(flags.instance_port),
            loopback(flags.instance_port + 1),
        ],
        admin: Some(loopback(flags.admin_port)),
        cache: Some(1 << 20),
        ..proxy::config::Cli::default()
    };
    assert_eq!(parsed, expected);
    assert_eq!(plan.admin, loopback(flags.admin_port));

    let without_cache = Plan::from_flags(&self::flags(&["--cache", "0"])).expect("plan");
    let parsed = proxy::config::Cli::try_parse_from(&without_cache.proxy.args).expect("parses");
    assert_eq!(parsed.cache, None, "--cache 0 leaves the proxy's cache off");
}

#[test]
fn split_auth_adds_an_auth_group_that_the_proxy_config_routes_to() {
    let _turn = turn();
    let data = std::env::temp_dir().join(format!("flotilla-plan-split-{}", std::process::id()));
    let data_arg = data.display().to_string();
    let flags = flags(&[
        "--instances",
        "2",
        "--split-auth",
        "1",
        "--data-dir",
        &data_arg,
    ]);
    let plan = Plan::from_flags(&flags).expect("plan");
    let names: Vec<&str> = plan.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["app-1", "app-2", "auth-1"]);
    assert_eq!(plan.instances[2].addr, loopback(flags.instance_port + 2));
    assert_eq!(
        app_flags(&plan.instances[2].args).instance_id.as_deref(),
        Some("auth-1")
    );

    let (path, text) = plan
        .proxy_config
        .clone()
        .expect("a split stack writes a config");
    assert_eq!(path, data.join("proxy-split.toml"));
    let parsed = proxy::config::Cli::try_parse_from(&plan.proxy.args).expect("parses");
    assert_eq!(parsed.config, Some(path.clone()));
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(&path, &text).expect("write the config");
    let config = proxy::config::Config::load(&path);
    std::fs::remove_dir_all(&data).expect("clean up");
    let config = config.unwrap_or_else(|error| panic!("{error}\n{text}"));
    let routes: Vec<(&str, Option<&str>)> = config
        .routes
        .iter()
        .map(|r| (r.path_prefix.as_str(), r.upstream.as_deref()))
        .collect();
    assert_eq!(routes, [("/api/auth/", Some("auth")), ("/", Some("app"))]);
    let members = |group: &str| -> Vec<SocketAddr> {
        config.upstreams[group]
            .backends
            .iter()
            .flatten()
            .map(|b| b.addr)
            .collect()
    };
    assert_eq!(
        members("app"),
        [
            loopback(flags.instance_port),
            loopback(flags.instance_port + 1)
        ]
    );
    assert_eq!(members("auth"), [loopback(flags.instance_port + 2)]);
    assert_eq!(config.listeners[0].addr, loopback(flags.port));
    assert_eq!(config.admin.addr, loopback(flags.admin_port));
    assert!(
        config.cache.enabled,
        "--cache carries over to the split config"
    );
}

#[test]
fn tls_adds_an_https_listener_with_the_local_certificate() {
    let _turn = turn();
    let data = std::env::temp_dir().join(format!("flotilla-plan-tls-{}", std::process::id()));
    let data_arg = data.display().to_string();
    let tls_port = free_port().to_string();
    let flags = flags(&["--tls", "--tls-port", &tls_port, "--data-dir", &data_arg]);
    let plan = Plan::from_flags(&flags).expect("plan");
    let (https, files) = plan.tls.clone().expect("tls planned");
    assert_eq!(https, loopback(flags.tls_port));
    assert_eq!(plan.data_dir.as_deref(), Some(data.as_path()));

    let (path, text) = plan
        .proxy_config
        .clone()
        .expect("a TLS stack writes a config");
    assert_eq!(path, data.join("proxy.toml"));
    files.prepare().expect("certificates");
    std::fs::write(&path, &text).expect("write the config");
    let config = proxy::config::Config::load(&path);
    std::fs::remove_dir_all(&data).expect("clean up");
    let config = config.unwrap_or_else(|error| panic!("{error}\n{text}"));
    let listeners: Vec<(SocketAddr, bool)> = config
        .listeners
        .iter()
        .map(|l| (l.addr, l.tls.is_some()))
        .collect();
    assert_eq!(listeners, [(loopback(flags.port), false), (https, true)]);
    assert!(
        config
            .listeners
            .iter()
            .all(|l| !l.redirect_to_https && l.hsts_max_age_secs.is_none()),
        "plain HTTP stays served, and no HSTS pins localhost"
    );
    assert_eq!(config.upstreams["app"].backends.iter().flatten().count(), 3);
    assert!(config.cache.enabled);
}
