use std::ffi::OsString;

use clap::Parser;

use super::Flags;

fn parse(args: Vec<OsString>) -> Flags {
    let argv = std::iter::once(OsString::from("app")).chain(args);
    Flags::try_parse_from(argv).expect("the rendered arguments parse")
}

#[test]
fn flags_render_and_parse_back_the_same() {
    let flags = Flags {
        config: Some("/etc/flotilla/app.toml".into()),
        listen: Some(([127, 0, 0, 1], 3001).into()),
        database_url: Some("sqlite://data/flotilla.db".into()),
        jwt_secret: None,
        instance_id: Some("app-1".into()),
    };
    let mut parsed = parse(flags.to_args());
    // The secret is never rendered, so a JWT_SECRET in this test's own environment is all
    // the parser could have found.
    assert_eq!(parsed.jwt_secret, std::env::var(super::JWT_SECRET_ENV).ok());
    parsed.jwt_secret = None;
    assert_eq!(parsed, flags);

    let ipv6 = Flags {
        listen: Some("[::1]:0".parse().expect("addr")),
        ..flags
    };
    let mut parsed = parse(ipv6.to_args());
    parsed.jwt_secret = None;
    assert_eq!(parsed, ipv6);
}

#[test]
fn the_secret_never_reaches_the_arguments() {
    let secret = "s".repeat(40);
    let flags = Flags {
        jwt_secret: Some(secret.clone()),
        instance_id: Some("app-1".into()),
        ..Flags::default()
    };
    let args = flags.to_args();
    assert_eq!(args, ["--instance-id", "app-1"]);
    assert!(
        !args
            .iter()
            .any(|arg| arg.to_string_lossy().contains(&secret))
    );
}
