//! `--split-auth`: the same app binary as two groups behind one proxy, authentication on
//! its own instances and everything else on the others.

use std::collections::BTreeSet;

use crate::helpers::{START_DEADLINE, TestStack, client};

/// The instance that answered, from `X-Instance`.
fn instance(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-instance")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("no X-Instance on {response:?}"))
        .to_owned()
}

#[tokio::test]
async fn auth_requests_reach_the_auth_group_and_the_rest_the_app_group() {
    let stack = TestStack::start_split(2, 2);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let banner = stack.output();
    for name in ["app-1", "app-2", "auth-1", "auth-2"] {
        assert!(
            banner.contains(&format!("  {name} ")),
            "{name} in:\n{banner}"
        );
    }
    let http = client();
    let base = format!("http://{}", stack.public);

    let register = http
        .post(format!("{base}/api/auth/register"))
        .json(
            &serde_json::json!({"email": "grace@example.org", "password": "correct horse battery"}),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(register.status(), 201);
    let mut auth_answers = BTreeSet::from([instance(&register)]);
    let token = register.json::<serde_json::Value>().await.expect("body")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    for _ in 0..4 {
        let login = http
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"email": "grace@example.org", "password": "correct horse battery"}))
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), 200);
        auth_answers.insert(instance(&login));
    }
    assert_eq!(
        auth_answers,
        BTreeSet::from(["auth-1".to_owned(), "auth-2".to_owned()]),
        "every /api/auth request is answered by the auth group, round robin"
    );

    // A token the auth group signed is good on the app group: one secret for both.
    let mut app_answers = BTreeSet::new();
    for _ in 0..4 {
        let datasets = http
            .get(format!("{base}/api/datasets"))
            .header("cache-control", "no-cache")
            .bearer_auth(&token)
            .send()
            .await
            .expect("datasets");
        assert_eq!(datasets.status(), 200);
        app_answers.insert(instance(&datasets));
    }
    assert_eq!(
        app_answers,
        BTreeSet::from(["app-1".to_owned(), "app-2".to_owned()]),
        "everything else is answered by the app group"
    );
    let me = http
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    assert!(instance(&me).starts_with("auth-"), "{me:?}");
}
