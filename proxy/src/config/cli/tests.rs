use std::ffi::OsString;

use clap::Parser;

use super::{Cli, Command};

fn round_trip(cli: &Cli) -> Cli {
    let argv = std::iter::once(OsString::from("proxy")).chain(cli.to_args());
    Cli::try_parse_from(argv).expect("the rendered arguments parse")
}

#[test]
fn quick_mode_flags_render_and_parse_back_the_same() {
    let cli = Cli {
        listen: Some(([127, 0, 0, 1], 8080).into()),
        backends: vec![
            ([127, 0, 0, 1], 3001).into(),
            "[::1]:3002".parse().expect("addr"),
        ],
        admin: Some(([127, 0, 0, 1], 8081).into()),
        cache: Some(64 << 20),
        upgrade: true,
        ..Cli::default()
    };
    assert_eq!(round_trip(&cli), cli);

    let no_cache = Cli {
        cache: Some(0),
        upgrade: false,
        ..cli.clone()
    };
    assert_eq!(round_trip(&no_cache), no_cache);
}

#[test]
fn config_modes_render_and_parse_back_the_same() {
    let run = Cli {
        config: Some("/etc/flotilla/proxy.toml".into()),
        ..Cli::default()
    };
    assert_eq!(round_trip(&run), run);

    let check = Cli {
        command: Some(Command::Check {
            config: "proxy/config/example.toml".into(),
        }),
        ..Cli::default()
    };
    assert_eq!(round_trip(&check), check);
}

#[test]
fn quick_mode_addresses_follow_the_shared_rule() {
    let cli = Cli::try_parse_from([
        "proxy",
        "--listen",
        "localhost:8080",
        "--backend",
        "localhost:3001",
        "--admin",
        "LOCALHOST:8081",
    ])
    .expect("localhost is accepted");
    assert_eq!(cli.listen, Some(([127, 0, 0, 1], 8080).into()));
    assert_eq!(cli.backends, vec![([127, 0, 0, 1], 3001).into()]);
    assert_eq!(cli.admin, Some(([127, 0, 0, 1], 8081).into()));

    for (flag, value, hint) in [
        ("--backend", "app:3001", "not resolved"),
        ("--listen", "8080", "`127.0.0.1:8080`"),
        ("--admin", "127.0.0.1", "no port"),
    ] {
        let mut argv = vec!["proxy"];
        for (good_flag, good) in [
            ("--listen", "127.0.0.1:8080"),
            ("--backend", "127.0.0.1:3001"),
        ] {
            if good_flag != flag {
                argv.extend([good_flag, good]);
            }
        }
        argv.extend([flag, value]);
        let error = Cli::try_parse_from(argv).expect_err(value).to_string();
        assert!(error.contains(flag), "{error}");
        assert!(error.contains(hint), "{error}");
    }
}
