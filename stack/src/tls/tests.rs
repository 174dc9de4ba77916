use std::os::unix::fs::PermissionsExt as _;

use super::*;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "flotilla-stack-tls-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read")
}

#[test]
fn the_first_start_makes_both_and_the_next_reuses_both() {
    let dir = scratch();
    let tls = LocalTls::new(&dir);
    let first = tls.prepare().expect("prepare");
    assert_eq!(
        first,
        Prepared {
            new_ca: true,
            new_leaf: true
        }
    );
    for key in [tls.ca_key_path(), tls.key_path()] {
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    }
    let (ca, leaf) = (read(&tls.ca_path()), read(&tls.cert_path()));

    let second = tls.prepare().expect("prepare again");
    assert_eq!(
        second,
        Prepared {
            new_ca: false,
            new_leaf: false
        }
    );
    assert_eq!(read(&tls.ca_path()), ca);
    assert_eq!(read(&tls.cert_path()), leaf);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_leaf_for_other_names_or_near_its_end_is_made_again_under_the_same_ca() {
    let dir = scratch();
    let tls = LocalTls::new(&dir);
    tls.prepare().expect("prepare");
    let ca = read(&tls.ca_path());
    let ca_params = CertificateParams::from_ca_cert_pem(&ca).expect("ca");
    let ca_key = KeyPair::from_pem(&read(&tls.ca_key_path())).expect("ca key");
    let issuer = ca_params.self_signed(&ca_key).expect("issuer");

    // A leaf for another name, then one that ends within the renewal window.
    let other = || {
        let key = KeyPair::generate().expect("key");
        std::fs::write(tls.key_path(), key.serialize_pem()).expect("key");
        key
    };
    let key = other();
    let mut params = CertificateParams::new(vec!["example.test".to_owned()]).expect("params");
    params.use_authority_key_identifier_extension = true;
    let leaf = params.signed_by(&key, &issuer, &ca_key).expect("leaf");
    std::fs::write(tls.cert_path(), leaf.pem()).expect("write");
    assert!(tls.prepare().expect("prepare").new_leaf, "other names");
    assert_eq!(read(&tls.ca_path()), ca, "the CA stays");

    let key = other();
    let mut params = CertificateParams::new(NAMES.map(str::to_owned).to_vec()).expect("params");
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, SystemTime::now(), RENEW_BEFORE_DAYS - 1);
    let leaf = params.signed_by(&key, &issuer, &ca_key).expect("leaf");
    std::fs::write(tls.cert_path(), leaf.pem()).expect("write");
    assert!(tls.prepare().expect("prepare").new_leaf, "near its end");
    assert!(!tls.prepare().expect("prepare").new_leaf, "renewed");
    assert_eq!(read(&tls.ca_path()), ca, "the CA stays");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_leaf_of_another_ca_or_a_lost_ca_key_starts_over() {
    let dir = scratch();
    let tls = LocalTls::new(&dir);
    tls.prepare().expect("prepare");
    let other = scratch();
    let elsewhere = LocalTls::new(&other);
    elsewhere.prepare().expect("prepare elsewhere");
    std::fs::copy(elsewhere.cert_path(), tls.cert_path()).expect("copy cert");
    std::fs::copy(elsewhere.key_path(), tls.key_path()).expect("copy key");
    let ca = read(&tls.ca_path());
    assert_eq!(
        tls.prepare().expect("prepare"),
        Prepared {
            new_ca: false,
            new_leaf: true
        },
        "a leaf another CA signed"
    );
    assert_eq!(read(&tls.ca_path()), ca);

    std::fs::remove_file(tls.ca_key_path()).expect("remove CA key");
    assert_eq!(
        tls.prepare().expect("prepare"),
        Prepared {
            new_ca: true,
            new_leaf: true
        }
    );
    assert_ne!(read(&tls.ca_path()), ca);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}
