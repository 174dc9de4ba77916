use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).expect("test header"));
    }
    map
}

fn trusted(blocks: &[&str]) -> TrustedProxies {
    TrustedProxies::parse(blocks.iter().copied()).expect("test blocks")
}

// === request ids ===

#[test]
fn request_ids_are_short_plain_tokens() {
    assert!(is_valid_request_id(b"abc-123_x.y:z"));
    assert!(is_valid_request_id(&[b'a'; MAX_REQUEST_ID_BYTES]));
    assert!(!is_valid_request_id(&[b'a'; MAX_REQUEST_ID_BYTES + 1]));
    assert!(!is_valid_request_id(b""));
    for hostile in [
        &b"has space"[..],
        b"quote\"d",
        b"new\nline",
        b"semi;colon",
        b"caf\xc3\xa9",
        b"<script>",
    ] {
        assert!(!is_valid_request_id(hostile), "{hostile:?}");
    }
}

#[test]
fn a_valid_client_id_is_kept_and_anything_else_replaced_by_a_uuid() {
    let kept = request_id(&headers(&[
        (X_REQUEST_ID, "req-1"),
        (X_REQUEST_ID, "req-2"),
    ]));
    assert_eq!(kept, "req-1");
    for offered in [None, Some("has space"), Some(&*"a".repeat(129))] {
        let map = offered.map_or_else(HeaderMap::new, |id| headers(&[(X_REQUEST_ID, id)]));
        let made = request_id(&map);
        assert_eq!(made.len(), 36, "a UUID for {offered:?}: {made}");
        assert!(is_valid_request_id(made.as_bytes()));
    }
}

// === trusted proxies ===

#[test]
fn blocks_and_bare_addresses_parse() {
    let list = trusted(&[
        "10.0.0.0/8",
        "::1/128",
        "192.0.2.7",
        "2001:db8::1",
        " 172.16.0.0/12 ",
    ]);
    assert_eq!(
        list.to_string(),
        "10.0.0.0/8, ::1/128, 192.0.2.7/32, 2001:db8::1/128, 172.16.0.0/12"
    );
    assert!(list.contains(ip("10.255.0.1")));
    assert!(list.contains(ip("192.0.2.7")));
    assert!(!list.contains(ip("192.0.2.8")));
    assert!(list.contains(ip("2001:db8::1")));
    assert!(!list.contains(ip("2001:db8::2")));
    assert!(list.contains(ip("172.31.255.255")));
    assert!(!list.contains(ip("172.32.0.0")));
    assert!(
        list.contains(ip("::ffff:10.1.2.3")),
        "IPv4-mapped peers match"
    );
    let everything = trusted(&["0.0.0.0/0", "::/0"]);
    assert!(everything.contains(ip("203.0.113.1")) && everything.contains(ip("2001:db8::9")));
    assert!(
        trusted(&["::ffff:10.0.0.0/104"]).contains(ip("10.9.9.9")),
        "a mapped block is an IPv4 block"
    );
}

#[test]
fn a_bad_entry_is_quoted_with_the_reason() {
    for (entry, reason) in [
        ("10.0.0.0/33", "over 32"),
        ("::/129", "over 128"),
        ("10.1.2.3/8", "did you mean `10.0.0.0/8`"),
        ("banana", "not an IP address"),
        ("10.0.0.0/x", "not a prefix length"),
        ("10.0.0.0/-1", "not a prefix length"),
        ("fe80::1%eth0", "not an IP address"),
    ] {
        let message = entry.parse::<Cidr>().expect_err(entry).to_string();
        assert!(message.contains(&format!("`{entry}`")), "{message}");
        assert!(message.contains(reason), "{entry}: {message}");
    }
}

#[test]
fn config_reads_a_list_or_one_comma_separated_string() {
    let list: TrustedProxies =
        serde_json::from_str(r#"["10.0.0.0/8", "::1"]"#).expect("a list parses");
    assert_eq!(list, trusted(&["10.0.0.0/8", "::1/128"]));
    let string: TrustedProxies =
        serde_json::from_str(r#""10.0.0.0/8, ::1""#).expect("a string parses");
    assert_eq!(string, list);
    let empty: TrustedProxies = serde_json::from_str("[]").expect("empty parses");
    assert_eq!(empty, TrustedProxies::none());
    let error = serde_json::from_str::<TrustedProxies>(r#"["10.0.0.0/8", "10.0.0.300"]"#)
        .expect_err("bad entry");
    assert!(error.to_string().contains("`10.0.0.300`"), "{error}");
    assert!(serde_json::from_str::<TrustedProxies>("7").is_err());
}

#[test]
fn the_app_default_is_loopback_and_private_networks() {
    let list = TrustedProxies::local_and_private();
    assert_eq!(list.blocks().len(), 6, "every constant block parsed");
    for inside in [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.17.0.2",
        "192.168.1.1",
        "fd00::1",
        "::ffff:10.0.0.1",
    ] {
        assert!(list.contains(ip(inside)), "{inside}");
    }
    for outside in [
        "8.8.8.8",
        "2001:db8::1",
        "::ffff:8.8.8.8",
        "172.32.0.1",
        "fe80::1",
    ] {
        assert!(!list.contains(ip(outside)), "{outside}");
    }
}

// === the app's rule: the client's address ===

#[test]
fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
    let map = headers(&[(X_FORWARDED_FOR, "10.0.0.1, 127.0.0.1")]);
    let list = TrustedProxies::local_and_private();
    assert_eq!(
        client_address(&list, ip("203.0.113.9"), &map),
        ip("203.0.113.9")
    );
    assert_eq!(
        client_address(&TrustedProxies::none(), ip("127.0.0.1"), &map),
        ip("127.0.0.1")
    );
}

#[test]
fn the_right_most_untrusted_hop_is_the_client_and_forged_hops_are_ignored() {
    let list = TrustedProxies::local_and_private();
    let peer = ip("127.0.0.1");
    let cases = [
        // What the proxy sends: the client's own address only.
        ("203.0.113.9", "203.0.113.9"),
        // A client-written hop left of what the proxy appended.
        ("198.51.100.7, 203.0.113.9", "203.0.113.9"),
        // A chain through a trusted balancer in front of the proxy.
        ("198.51.100.7, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        // Everything trusted: the furthest hop the chain vouches for.
        ("10.0.0.1", "10.0.0.1"),
        ("10.0.0.1, 192.168.0.1", "10.0.0.1"),
        // Ports and IPv6, in every spelling a hop takes.
        ("203.0.113.9:5555", "203.0.113.9"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        // Empty list elements are skipped.
        ("203.0.113.9, , ", "203.0.113.9"),
    ];
    for (header, client) in cases {
        let map = headers(&[(X_FORWARDED_FOR, header)]);
        assert_eq!(client_address(&list, peer, &map), ip(client), "{header}");
    }
    assert_eq!(
        client_address(&list, peer, &HeaderMap::new()),
        peer,
        "no header"
    );
}

#[test]
fn garbage_stops_the_walk_at_the_last_trusted_address() {
    let list = TrustedProxies::local_and_private();
    let peer = ip("127.0.0.1");
    for (header, client) in [
        ("203.0.113.9, garbage", "127.0.0.1"),
        ("203.0.113.9, unknown", "127.0.0.1"),
        ("garbage, 10.0.0.5", "10.0.0.5"),
        ("203.0.113.9, 10.0.0.5:99999", "127.0.0.1"),
        ("203.0.113.9, [2001:db8::1", "127.0.0.1"),
        ("203.0.113.9, [2001:db8::1]x", "127.0.0.1"),
        ("203.0.113.9, 1.2.3.4.5", "127.0.0.1"),
        ("203.0.113.9, _hidden", "127.0.0.1"),
    ] {
        let map = headers(&[(X_FORWARDED_FOR, header)]);
        assert_eq!(client_address(&list, peer, &map), ip(client), "{header}");
    }
    let long = format!("203.0.113.9, {}", "1".repeat(70));
    let map = headers(&[(X_FORWARDED_FOR, &long)]);
    assert_eq!(client_address(&list, peer, &map), peer, "an overlong hop");
    let mut binary = HeaderMap::new();
    binary.insert(
        X_FORWARDED_FOR,
        HeaderValue::from_bytes(b"203.0.113.9, \xff").expect("opaque bytes"),
    );
    assert_eq!(
        client_address(&list, peer, &binary),
        peer,
        "non-text header"
    );
}

#[test]
fn many_hops_cost_a_bounded_walk() {
    let list = TrustedProxies::local_and_private();
    let peer = ip("127.0.0.1");
    let forged: Vec<String> = (0..5_000)
        .map(|i| format!("198.51.{}.{}", i / 256 % 256, i % 256))
        .collect();
    let header = format!("{}, 203.0.113.9", forged.join(", "));
    let map = headers(&[(X_FORWARDED_FOR, &header)]);
    assert_eq!(client_address(&list, peer, &map), ip("203.0.113.9"));

    // A chain of trusted hops longer than anyone runs ends at the last one examined,
    // never at the client-written address beyond it.
    let trusted_hops: Vec<String> = (1..=MAX_HOPS + 10).map(|i| format!("10.0.0.{i}")).collect();
    let header = format!("198.51.100.7, {}", trusted_hops.join(", "));
    let map = headers(&[(X_FORWARDED_FOR, &header)]);
    let client = client_address(&list, peer, &map);
    // From the right, 10.0.0.42 down to 10.0.0.11 are the 32 hops examined.
    assert_eq!(client, ip("10.0.0.11"), "{MAX_HOPS} hops walked");
}

#[test]
fn every_header_line_counts_and_the_last_line_is_nearest() {
    let list = TrustedProxies::local_and_private();
    let map = headers(&[
        (X_FORWARDED_FOR, "198.51.100.7"),
        (X_FORWARDED_FOR, "203.0.113.9, 10.0.0.2"),
    ]);
    assert_eq!(
        client_address(&list, ip("127.0.0.1"), &map),
        ip("203.0.113.9")
    );
    let map = headers(&[
        (X_FORWARDED_FOR, "203.0.113.9"),
        (X_FORWARDED_FOR, "10.0.0.2"),
    ]);
    assert_eq!(
        client_address(&list, ip("::ffff:127.0.0.1"), &map),
        ip("203.0.113.9")
    );
}

// === the proxy's rule: replace or append ===

fn forged() -> HeaderMap {
    headers(&[
        (X_FORWARDED_FOR, "198.51.100.7"),
        (X_FORWARDED_PROTO, "https"),
        (X_FORWARDED_HOST, "evil.example"),
        (FORWARDED, "for=198.51.100.7;proto=https"),
    ])
}

const HOP: Hop<'static> = Hop {
    peer: Some(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9))),
    scheme: "http",
    host: Some("shop.example:8080"),
};

#[test]
fn from_an_untrusted_peer_every_forwarding_header_is_replaced() {
    let out = forward(&TrustedProxies::none(), HOP, &forged());
    assert_eq!(
        out,
        Forwarding {
            x_forwarded_for: Some("203.0.113.9".to_owned()),
            x_forwarded_proto: "http".to_owned(),
            x_forwarded_host: Some("shop.example:8080".to_owned()),
            forwarded: "for=203.0.113.9;proto=http;host=\"shop.example:8080\"".to_owned(),
        }
    );
    let elsewhere = forward(&trusted(&["10.0.0.0/8"]), HOP, &forged());
    assert_eq!(
        elsewhere, out,
        "a list that does not hold the peer changes nothing"
    );
}

#[test]
fn from_a_trusted_peer_the_chain_is_kept_and_appended_to() {
    let out = forward(&trusted(&["203.0.113.0/24"]), HOP, &forged());
    assert_eq!(
        out,
        Forwarding {
            x_forwarded_for: Some("198.51.100.7, 203.0.113.9".to_owned()),
            x_forwarded_proto: "https".to_owned(),
            x_forwarded_host: Some("evil.example".to_owned()),
            forwarded: "for=198.51.100.7;proto=https, \
                        for=203.0.113.9;proto=http;host=\"shop.example:8080\""
                .to_owned(),
        }
    );
    let lines = headers(&[
        (X_FORWARDED_FOR, "198.51.100.7"),
        (X_FORWARDED_FOR, "10.0.0.1"),
    ]);
    let out = forward(&trusted(&["203.0.113.9"]), HOP, &lines);
    assert_eq!(
        out.x_forwarded_for.as_deref(),
        Some("198.51.100.7, 10.0.0.1, 203.0.113.9"),
        "every line, in order, then the peer"
    );
    let bare = forward(&trusted(&["203.0.113.9"]), HOP, &HeaderMap::new());
    assert_eq!(
        bare,
        forward(&TrustedProxies::none(), HOP, &HeaderMap::new())
    );
}

#[test]
fn forwarded_elements_quote_what_rfc_7239_requires() {
    let v6 = Hop {
        peer: Some(ip("2001:db8::1")),
        scheme: "https",
        host: Some("a\"b\\c"),
    };
    let out = forward(&TrustedProxies::none(), v6, &HeaderMap::new());
    assert_eq!(
        out.forwarded,
        r#"for="[2001:db8::1]";proto=https;host="a\"b\\c""#
    );
    let mapped = Hop {
        peer: Some(ip("::ffff:203.0.113.9")),
        ..HOP
    };
    let out = forward(&TrustedProxies::none(), mapped, &HeaderMap::new());
    assert_eq!(out.x_forwarded_for.as_deref(), Some("203.0.113.9"));
    let unix = Hop {
        peer: None,
        scheme: "http",
        host: None,
    };
    let out = forward(&trusted(&["0.0.0.0/0", "::/0"]), unix, &forged());
    assert_eq!(
        out.x_forwarded_for, None,
        "no address: the forged one is removed"
    );
    assert_eq!(out.forwarded, "for=unknown;proto=http");
    assert_eq!(out.x_forwarded_host, None);
}
