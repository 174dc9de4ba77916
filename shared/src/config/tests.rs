use std::io::Write;

use serde::{Deserialize, Serialize};

use super::{Sources, load};

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Example {
    listen: String,
    #[serde(default)]
    nested: Nested,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Nested {
    #[serde(default)]
    max_body_bytes: u64,
}

#[derive(Serialize, Default)]
struct Flags {
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<String>,
}

fn file_with(text: &str) -> tempfile_lite::TempFile {
    let file = tempfile_lite::TempFile::new();
    file.handle()
        .write_all(text.as_bytes())
        .expect("write config");
    file
}

#[test]
fn flags_override_file_key_by_key() {
    let file = file_with("listen = \"0.0.0.0:1\"\n[nested]\nmax_body_bytes = 7\n");
    let flags = Flags {
        listen: Some("127.0.0.1:2".into()),
    };
    let sources = Sources {
        file: Some(file.path()),
        env_prefix: None,
    };
    let loaded: Example = load(sources, &flags).expect("loads");
    assert_eq!(loaded.listen, "127.0.0.1:2");
    assert_eq!(loaded.nested.max_body_bytes, 7);
}

#[test]
fn absent_flags_keep_the_file_value() {
    let file = file_with("listen = \"0.0.0.0:1\"\n");
    let sources = Sources {
        file: Some(file.path()),
        env_prefix: None,
    };
    let loaded: Example = load(sources, &Flags::default()).expect("loads");
    assert_eq!(loaded.listen, "0.0.0.0:1");
}

#[test]
fn unknown_keys_are_named() {
    let file = file_with("listen = \"x\"\n[nested]\nmax_body_byte = 7\n");
    let sources = Sources {
        file: Some(file.path()),
        env_prefix: None,
    };
    let error = load::<Example, _>(sources, &Flags::default()).expect_err("rejects");
    let message = error.to_string();
    assert!(message.contains("max_body_byte"), "{message}");
    assert!(message.contains("nested"), "{message}");
}

#[test]
fn wrong_types_are_named_with_their_key() {
    let file = file_with("listen = \"x\"\n[nested]\nmax_body_bytes = \"lots\"\n");
    let sources = Sources {
        file: Some(file.path()),
        env_prefix: None,
    };
    let error = load::<Example, _>(sources, &Flags::default()).expect_err("rejects");
    assert!(
        error.to_string().contains("nested.max_body_bytes"),
        "{error}"
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listeners {
    listeners: Vec<Listener>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listener {
    #[serde(deserialize_with = "super::address::deserialize_socket_addr")]
    addr: std::net::SocketAddr,
}

#[test]
fn a_bad_address_in_an_array_is_named_by_its_index() {
    let file = file_with("[[listeners]]\naddr = \"localhost:1\"\n");
    let sources = Sources {
        file: Some(file.path()),
        env_prefix: None,
    };
    let loaded = load::<Listeners, _>(sources, &Flags::default()).expect("loads");
    assert_eq!(loaded.listeners[0].addr, ([127, 0, 0, 1], 1).into());

    let file =
        file_with("[[listeners]]\naddr = \"localhost:1\"\n[[listeners]]\naddr = \"nowhere:2\"\n");
    let sources = Sources {
        file: Some(file.path()),
        env_prefix: None,
    };
    let error = load::<Listeners, _>(sources, &Flags::default()).expect_err("rejects");
    let message = error.to_string();
    assert!(
        message.starts_with("`listeners[1].addr`: `nowhere:2` is not an `ip:port` socket address"),
        "{message}"
    );
    assert!(message.contains("not resolved"), "{message}");
}

#[test]
fn a_missing_file_is_an_error() {
    let sources = Sources {
        file: Some(std::path::Path::new("/nonexistent/flotilla.toml")),
        env_prefix: None,
    };
    let error = load::<Example, _>(sources, &Flags::default()).expect_err("rejects");
    assert!(error.to_string().contains("does not exist"), "{error}");
}

/// A temporary file removed on drop; enough for these tests without another dependency.
mod tempfile_lite {
    use std::fs::File;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    pub(super) struct TempFile(PathBuf);

    impl TempFile {
        pub(super) fn new() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "shared-config-test-{}-{}.toml",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            Self(std::env::temp_dir().join(name))
        }

        pub(super) fn handle(&self) -> File {
            File::create(&self.0).expect("create temp file")
        }

        pub(super) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
