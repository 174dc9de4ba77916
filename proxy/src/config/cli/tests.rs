use clap::Parser;

use super::Cli;

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
