//! Loading and validating the configuration.
use super::*;

#[test]
fn a_missing_secret_names_the_flag_and_the_variable() {
    let error = Config::new("sqlite://x.db", "")
        .validate()
        .expect_err("no secret");
    let message = error.to_string();
    assert!(message.contains("--jwt-secret"), "{message}");
    assert!(message.contains("JWT_SECRET"), "{message}");
}

#[test]
fn a_short_secret_is_refused() {
    assert!(Config::new("sqlite://x.db", "short").validate().is_err());
    assert!(
        Config::new("sqlite://x.db", "x".repeat(32))
            .validate()
            .is_ok()
    );
}

fn write_file(text: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("flotilla-app-config-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).expect("write config file");
    path
}

#[test]
fn the_file_sets_keys_and_flags_override_it() {
    let path = write_file(
        "listen = \"127.0.0.1:4000\"\nmax_upload_bytes = 1024\ndrain_secs = 9\n\
         jwt_secret = \"from-the-file-0123456789-0123456789\"\n",
    );
    let flags = Flags {
        config: Some(path.clone()),
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 5000))),
        ..Flags::default()
    };
    let config = Config::load(&flags).expect("valid");
    let _ = std::fs::remove_file(path);
    assert_eq!(config.listen.port(), 5000, "the flag wins");
    assert_eq!(config.max_upload_bytes, 1024, "the file sets it");
    assert_eq!(config.drain_secs, 9);
    assert_eq!(config.token_lifetime_secs, 86_400, "defaults fill the rest");
}

#[test]
fn an_unknown_key_is_named() {
    let path = write_file("max_upload_megabytes = 3\n");
    let flags = Flags {
        config: Some(path.clone()),
        jwt_secret: Some("x".repeat(40)),
        ..Flags::default()
    };
    let error = Config::load(&flags).expect_err("unknown key");
    let _ = std::fs::remove_file(path);
    assert!(
        error.to_string().contains("max_upload_megabytes"),
        "{error}"
    );
}

#[test]
fn debug_output_hides_the_secret_and_the_database_password() {
    let config = Config::new("postgres://u:hunter2@db/app", "s".repeat(40));
    let text = format!("{config:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains(&"s".repeat(40)), "{text}");
}

#[test]
fn a_placeholder_secret_is_refused_naming_the_variable() {
    for secret in [
        "CHANGE-ME-to-a-long-random-string",
        "a-long-enough-secret-but-change-me-0123456789",
        "Change_Me_0123456789_0123456789_0123456789",
    ] {
        let error = Config::new("sqlite://x.db", secret)
            .validate()
            .expect_err(secret);
        let message = error.to_string();
        assert!(message.contains("JWT_SECRET"), "{message}");
        assert!(!message.contains(secret), "never printed: {message}");
    }
}

#[test]
fn a_zero_limit_is_named() {
    let mut config = Config::new("sqlite://x.db", "x".repeat(40));
    config.max_columns = 0;
    let error = config.validate().expect_err("zero");
    assert!(error.to_string().contains("max_columns"), "{error}");
}

#[test]
fn trusted_proxies_default_to_local_networks_and_a_bad_entry_is_named() {
    let config = Config::new("sqlite://x.db", "x".repeat(40));
    assert_eq!(config.trusted_proxies, TrustedProxies::local_and_private());

    let path = write_file("trusted_proxies = [\"10.0.0.0/8\", \"203.0.113.9\"]\n");
    let flags = Flags {
        config: Some(path.clone()),
        jwt_secret: Some("x".repeat(40)),
        ..Flags::default()
    };
    let loaded = Config::load(&flags).expect("valid list");
    let _ = std::fs::remove_file(path);
    assert_eq!(
        loaded.trusted_proxies.to_string(),
        "10.0.0.0/8, 203.0.113.9/32"
    );

    let path = write_file("trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\n");
    let flags = Flags {
        config: Some(path.clone()),
        jwt_secret: Some("x".repeat(40)),
        ..Flags::default()
    };
    let error = Config::load(&flags).expect_err("bad entry").to_string();
    let _ = std::fs::remove_file(path);
    assert!(error.contains("trusted_proxies"), "{error}");
    assert!(error.contains("`10.0.0.0/99`"), "{error}");
}

#[test]
fn the_listen_key_takes_the_shared_address_rule() {
    let path = write_file("listen = \"localhost:4000\"\n");
    let flags = Flags {
        config: Some(path.clone()),
        jwt_secret: Some("x".repeat(40)),
        ..Flags::default()
    };
    let loaded = Config::load(&flags);
    let _ = std::fs::remove_file(path);
    assert_eq!(
        loaded.expect("localhost").listen,
        SocketAddr::from(([127, 0, 0, 1], 4000)),
        "localhost is 127.0.0.1"
    );

    let path = write_file("listen = \"app:4000\"\n");
    let flags = Flags {
        config: Some(path.clone()),
        jwt_secret: Some("x".repeat(40)),
        ..Flags::default()
    };
    let error = Config::load(&flags).expect_err("a name").to_string();
    let _ = std::fs::remove_file(path);
    assert!(
        error.starts_with("`listen`: `app:4000` is not an `ip:port` socket address"),
        "{error}"
    );
    assert!(error.contains("not resolved"), "{error}");
}

#[test]
fn the_listen_flag_takes_the_shared_address_rule() {
    use clap::Parser;

    let flags = Flags::try_parse_from(["app", "--listen", "localhost:3000"]).expect("localhost");
    assert_eq!(flags.listen, Some(SocketAddr::from(([127, 0, 0, 1], 3000))));

    let error = Flags::try_parse_from(["app", "--listen", "3000"])
        .expect_err("a bare port")
        .to_string();
    assert!(error.contains("--listen"), "{error}");
    assert!(error.contains("`127.0.0.1:3000`"), "{error}");

    let error = Flags::try_parse_from(["app", "--listen", "app.internal:3000"])
        .expect_err("a name")
        .to_string();
    assert!(error.contains("not resolved"), "{error}");
}
