//! `proxy check` and start-up validation: the example passes, bad files name the key.

use std::process::Command;
use std::time::Duration;

use shared::testing::ChildGuard;

use crate::helpers::{check, scratch_dir};

const BACKENDS: &str = "[upstreams.app]\nbackends = [{ addr = \"127.0.0.1:3001\" }]\n";

#[test]
fn the_example_config_passes_check() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
    let text = std::fs::read_to_string(path).expect("example config");
    let (ok, output) = check(&text);
    assert!(ok, "{output}");
    assert!(output.contains("OK"), "{output}");
}

#[test]
fn bad_configs_name_the_key_and_the_reason() {
    let cases = [
        (
            format!("[[listeners]]\nadr = \"127.0.0.1:1\"\n{BACKENDS}"),
            "listeners",
            "adr",
        ),
        (
            format!("[[listeners]]\naddr = \"nowhere\"\n{BACKENDS}"),
            "listeners[0].addr",
            "socket address",
        ),
        (
            format!("[server]\nthreads = \"two\"\n{BACKENDS}"),
            "server.threads",
            "string",
        ),
        (
            format!("[server]\nthreads = 0\n{BACKENDS}"),
            "server.threads",
            "at least 1",
        ),
        (
            format!("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n{BACKENDS}"),
            "server.trusted_proxies",
            "`10.0.0.0/33`",
        ),
        (
            format!("[timeouts]\nconnect_ms = 0\n{BACKENDS}"),
            "timeouts.connect_ms",
            "greater than 0",
        ),
        (
            format!("[[routes]]\npath_prefix = \"/\"\nupstream = \"missing\"\n{BACKENDS}"),
            "routes[0].upstream",
            "missing",
        ),
        (
            format!("[[routes]]\npath_prefix = \"api\"\nupstream = \"app\"\n{BACKENDS}"),
            "routes[0].path_prefix",
            "start with",
        ),
        (
            format!("[admin]\naddr = \"8081\"\n{BACKENDS}"),
            "admin.addr",
            "socket address",
        ),
        (
            format!(
                "[[listeners]]\naddr = \"127.0.0.1:8443\"\ntls = {{ cert_path = \"/nonexistent/cert.pem\", key_path = \"/nonexistent/key.pem\" }}\n{BACKENDS}"
            ),
            "listeners[0].tls.cert_path",
            "cannot read",
        ),
        (
            format!(
                "[[listeners]]\naddr = \"127.0.0.1:8080\"\n[[listeners]]\naddr = \"127.0.0.1:8443\"\ntls = {{ acme = true }}\n{BACKENDS}"
            ),
            "listeners[1].tls.acme",
            "[tls.acme]",
        ),
        (
            format!(
                "[[listeners]]\naddr = \"127.0.0.1:8080\"\n[[listeners]]\naddr = \"127.0.0.1:8443\"\ntls = {{ acme = true }}\n\
                 [tls.acme]\ndomains = [\"www.example.com\"]\ndirectory_url = \"staging\"\n{BACKENDS}"
            ),
            "tls.acme.directory_url",
            "letsencrypt-staging",
        ),
        ("[upstreams]\n".to_owned(), "upstreams", "at least one"),
        (
            format!("[cache]\nenabled = true\nmax_object_bytes = 0\n{BACKENDS}"),
            "cache.max_object_bytes",
            "above 0",
        ),
        (
            format!("[cache]\nenabled = true\nmax_size_byte = 1\n{BACKENDS}"),
            "cache",
            "max_size_byte",
        ),
        (
            format!("[admin]\naddr = \"0.0.0.0:8081\"\n[cache]\nenabled = true\n{BACKENDS}"),
            "admin.token",
            "token",
        ),
    ];
    for (text, key, reason) in cases {
        let (ok, output) = check(&text);
        assert!(!ok, "accepted:\n{text}");
        assert!(
            output.contains(key),
            "key `{key}` not named for:\n{text}\n{output}"
        );
        assert!(
            output.contains(reason),
            "reason `{reason}` not given for:\n{text}\n{output}"
        );
        assert!(!output.contains("panicked"), "{output}");
    }
}

#[test]
fn localhost_addresses_pass_check_as_ipv4_loopback() {
    let text = "[[listeners]]\naddr = \"localhost:8080\"\n[admin]\naddr = \"LOCALHOST:8081\"\n\
                [upstreams.app]\nbackends = [{ addr = \"localhost:3001\" }, { addr = \"[::1]:3001\" }]\n";
    let (ok, output) = check(text);
    assert!(ok, "{output}");

    // localhost is 127.0.0.1, so it and 127.0.0.1 are one backend listed twice.
    let text = "[upstreams.app]\nbackends = [{ addr = \"127.0.0.1:3001\" }, { addr = \"localhost:3001\" }]\n";
    let (ok, output) = check(text);
    assert!(!ok, "accepted:\n{text}");
    assert!(
        output.contains("upstreams.app.backends[1].addr"),
        "{output}"
    );
    assert!(
        output.contains("`127.0.0.1:3001` is listed twice"),
        "{output}"
    );
}

#[test]
fn bad_addresses_fail_check_naming_the_key_and_the_fix() {
    let cases = [
        (
            "[upstreams.app]\nbackends = [{ addr = \"127.0.0.1:3001\" }, { addr = \"app:3001\" }]\n"
                .to_owned(),
            "upstreams.app.backends[1].addr",
            "use `dns` for names",
        ),
        (
            format!("[[listeners]]\naddr = \"localhost\"\n{BACKENDS}"),
            "listeners[0].addr",
            "no port",
        ),
        (
            format!("[[listeners]]\naddr = \"127.0.0.1:80\"\n[[listeners]]\naddr = \"www.example.com:443\"\n{BACKENDS}"),
            "listeners[1].addr",
            "not resolved",
        ),
        (
            format!("[admin]\naddr = \"8081\"\n{BACKENDS}"),
            "admin.addr",
            "`127.0.0.1:8081`",
        ),
        (
            format!("[admin]\naddr = 8081\n{BACKENDS}"),
            "admin.addr",
            "socket address",
        ),
    ];
    for (text, key, reason) in cases {
        let (ok, output) = check(&text);
        assert!(!ok, "accepted:\n{text}");
        assert!(
            output.contains(key),
            "key `{key}` not named for:\n{text}\n{output}"
        );
        assert!(
            output.contains(reason),
            "reason `{reason}` not given for:\n{text}\n{output}"
        );
        assert!(!output.contains("panicked"), "{output}");
    }
}

#[test]
fn quick_mode_flags_take_the_same_address_rule() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_proxy"))
            .args(args)
            .output()
            .expect("run proxy");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&["--listen", "127.0.0.1:0", "--backend", "app:3001"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--backend"), "{stderr}");
    assert!(stderr.contains("not resolved"), "{stderr}");

    let (code, stderr) = run(&["--listen", "8080", "--backend", "127.0.0.1:3001"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
    assert!(stderr.contains("`127.0.0.1:8080`"), "{stderr}");
}

#[tokio::test]
async fn a_bad_cert_path_stops_start_up_with_the_key_and_no_panic() {
    let dir = scratch_dir();
    let path = dir.join("proxy.toml");
    std::fs::write(
        &path,
        format!("[[listeners]]\naddr = \"127.0.0.1:0\"\ntls = {{ cert_path = \"{0}/missing.pem\", key_path = \"{0}/missing.key\" }}\n{BACKENDS}", dir.display()),
    )
    .expect("write config");
    let mut child = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_proxy"))
            .arg("--config")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped()),
    );

    let status = child
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the proxy exits");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.inner().stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr");
    }
    let _ = std::fs::remove_dir_all(&dir);

    assert!(!status.success());
    assert!(stderr.contains("listeners[0].tls.cert_path"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn connection_limits_and_client_timeouts_name_their_key() {
    let cases = [
        (
            "[timeouts]\nclient_idle_ms = 0\n",
            "timeouts.client_idle_ms",
            "greater than 0",
        ),
        (
            "[timeouts]\nclient_body_idle_ms = 0\n",
            "timeouts.client_body_idle_ms",
            "greater than 0",
        ),
        (
            "[limits]\nmax_connections = 0\n",
            "limits.max_connections",
            "at least 1",
        ),
        (
            "[limits]\nmax_connections_per_ip = 0\n",
            "limits.max_connections_per_ip",
            "at least 1",
        ),
        (
            "[limits]\nmax_connections = 10\nmax_connections_per_ip = 11\n",
            "limits.max_connections_per_ip",
            "must not exceed",
        ),
        (
            "[upstreams.app.passive]\nconsecutive_5xx_to_eject = 0\n",
            "upstreams.app.passive.consecutive_5xx_to_eject",
            "at least 1",
        ),
    ];
    for (table, key, reason) in cases {
        let text = format!("{BACKENDS}{table}");
        let (ok, output) = check(&text);
        assert!(!ok, "accepted:\n{text}");
        assert!(
            output.contains(key),
            "key `{key}` not named for:\n{text}\n{output}"
        );
        assert!(
            output.contains(reason),
            "reason `{reason}` not given for:\n{text}\n{output}"
        );
    }
}
