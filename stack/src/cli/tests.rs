use clap::Parser;

use super::Flags;

#[test]
fn bind_takes_the_shared_address_rule() {
    let flags = Flags::try_parse_from(["stack", "--bind", "localhost"]).expect("localhost");
    assert_eq!(flags.bind, std::net::IpAddr::from([127, 0, 0, 1]));

    let error = Flags::try_parse_from(["stack", "--bind", "my-laptop"])
        .expect_err("a name")
        .to_string();
    assert!(error.contains("--bind"), "{error}");
    assert!(error.contains("not resolved"), "{error}");
}
