//! Upload, detail, list and delete: statuses, caching headers, visibility and pagination.

use std::collections::HashSet;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::helpers::{SMALL_CSV, TestApp, TestDb, db_test, error_body};

async fn upload_then_read_a_public_dataset(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (token, user_id) = app.user("ada@example.org").await;

    let response = app
        .upload_csv(Some(&token), "name=Cities&visibility=public", SMALL_CSV)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let created: Value = response.json().await.expect("body");
    let id = created["id"].as_str().expect("id");
    assert_eq!(location, format!("/api/datasets/{id}"));
    assert_eq!(created["name"], "Cities");
    assert_eq!(created["visibility"], "public");
    assert_eq!(created["owner_id"], user_id.as_str());
    assert_eq!(created["rows"], 2);
    assert_eq!(created["columns"], 3);
    assert_eq!(created["size_bytes"], SMALL_CSV.len());
    assert_eq!(created["analysis"]["rows"], 2);
    assert_eq!(created["analysis"]["columns"][0]["name"], "city");

    // Anyone may read it, and shared caches may keep it.
    let response = app.get(&location, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=60, stale-if-error=600"
    );
    let etag = response.headers()["etag"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong: {etag}"
    );
    let detail: Value = response.json().await.expect("body");
    assert_eq!(detail, created);

    let revalidated = app
        .client
        .get(app.url(&location))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()["etag"], etag.as_str());
    assert!(revalidated.bytes().await.expect("body").is_empty());

    let stale = app
        .client
        .get(app.url(&location))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .expect("GET");
    assert_eq!(stale.status(), StatusCode::OK);

    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics.contains("app_datasets_analysed_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("app_analysis_rows_total 2"), "{metrics}");
}
db_test!(upload_then_read_a_public_dataset);

async fn upload_as_a_multipart_form(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (token, _) = app.user("ada@example.org").await;
    let form = Form::new()
        .text("visibility", "public")
        .part(
            "file",
            Part::bytes(SMALL_CSV.as_bytes().to_vec())
                .file_name("cities.csv")
                .mime_str("text/csv")
                .expect("mime"),
        )
        .text("name", "From a form");
    let response = app
        .client
        .post(app.url("/api/datasets"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("body");
    assert_eq!(created["name"], "From a form");
    assert_eq!(created["visibility"], "public");
    assert_eq!(created["rows"], 2);

    // Without a name field the file name stands in; visibility defaults to private.
    let form = Form::new().part(
        "file",
        Part::bytes(SMALL_CSV.as_bytes().to_vec()).file_name("cities.csv"),
    );
    let response = app
        .client
        .post(app.url("/api/datasets"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("body");
    assert_eq!(created["name"], "cities.csv");
    assert_eq!(created["visibility"], "private");

    let form = Form::new().text("name", "no file");
    let response = app
        .client
        .post(app.url("/api/datasets"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let error = error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(error["fields"]["file"].is_string(), "{error}");
}
db_test!(upload_as_a_multipart_form);

/// Everything the owner can see, through the list.
async fn owned_count(app: &TestApp, token: &str) -> usize {
    let body: Value = app
        .get("/api/datasets?limit=100", Some(token))
        .await
        .json()
        .await
        .expect("list");
    body["items"].as_array().expect("items").len()
}

async fn bad_uploads_are_refused_and_store_nothing(db: &TestDb) {
    let app = TestApp::spawn_with(db, |config| config.max_upload_bytes = 1024).await;
    let (token, _) = app.user("ada@example.org").await;

    let error = error_body(
        app.upload_csv(None, "name=x", SMALL_CSV).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(error["code"], "unauthorized");

    let response = app
        .client
        .post(app.url("/api/datasets?name=x"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("upload");
    error_body(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // Declared too large: refused before the body is read.
    let big = format!("n\n{}", "1\n".repeat(1000));
    let error = error_body(
        app.upload_csv(Some(&token), "name=big", &big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(error["code"], "payload_too_large");

    // Streamed without a length: refused once the count passes the limit.
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..20).map(|_| Ok("1\n".repeat(50))).collect();
    let response = app
        .client
        .post(app.url("/api/datasets?name=streamed"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(
            std::iter::once(Ok("n\n".to_owned())).chain(chunks),
        )))
        .send()
        .await
        .expect("upload");
    error_body(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    // The same limit holds for a multipart file.
    let form = Form::new().text("name", "big").part(
        "file",
        Part::bytes(big.clone().into_bytes()).file_name("big.csv"),
    );
    let response = app
        .client
        .post(app.url("/api/datasets"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    error_body(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    // A ragged row: 422 naming the line.
    let ragged = "a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n";
    let error = error_body(
        app.upload_csv(Some(&token), "name=ragged", ragged).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["code"], "invalid_csv");
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .contains("line 3"),
        "{error}"
    );

    for (query, field) in [
        ("visibility=public", "name"),
        ("name=%20%20", "name"),
        ("name=x&visibility=friends", "visibility"),
    ] {
        let error = error_body(
            app.upload_csv(Some(&token), query, SMALL_CSV).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(error["fields"][field].is_string(), "{query}: {error}");
    }

    assert_eq!(
        owned_count(&app, &token).await,
        0,
        "a failed upload stores nothing"
    );
    let events = app::db::events::since(&app.state.db, 0, 100)
        .await
        .expect("events");
    assert!(
        events.is_empty(),
        "a failed upload records no event: {events:?}"
    );
}
db_test!(bad_uploads_are_refused_and_store_nothing);

async fn an_analysis_over_max_analysis_bytes_sheds_its_extras_before_it_is_refused(db: &TestDb) {
    // 500 rows of two integer columns: the 500-row sample alone is over 5000 bytes of
    // JSON; the per-column statistics are not.
    let mut csv = String::from("a,b\n");
    for i in 0..500 {
        csv.push_str(&format!("{i},{}\n", i * 37 % 101));
    }
    let app = TestApp::spawn_with(db, |config| config.max_analysis_bytes = 5_000).await;
    let (token, _) = app.user("ada@example.org").await;
    let response = app.upload_csv(Some(&token), "name=shed", &csv).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("body");
    let analysis = &created["analysis"];
    assert_eq!(analysis["sample"], Value::Null, "the sample goes first");
    assert_eq!(analysis["columns"][0]["count"], 500);
    assert!(
        analysis["correlations"]["pearson"].is_array(),
        "the correlations are small enough to stay: {analysis}"
    );

    let app = TestApp::spawn_with(db, |config| config.max_analysis_bytes = 500).await;
    let (token, _) = app.user("grace@example.org").await;
    let error = error_body(
        app.upload_csv(Some(&token), "name=too-big", &csv).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("max_analysis_bytes"), "{error}");
}

db_test!(an_analysis_over_max_analysis_bytes_sheds_its_extras_before_it_is_refused);

async fn private_datasets_are_seen_only_by_their_owner(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, _) = app.user("ada@example.org").await;
    let (bob, _) = app.user("bob@example.org").await;

    let response = app.upload_csv(Some(&ada), "name=secret", SMALL_CSV).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("body");
    assert_eq!(created["visibility"], "private");
    let path = format!("/api/datasets/{}", created["id"].as_str().expect("id"));

    let response = app.get(&path, Some(&ada)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "private, no-store");

    for (who, token) in [("bob", Some(bob.as_str())), ("anonymous", None)] {
        let response = app.get(&path, token).await;
        let error = error_body(response, StatusCode::NOT_FOUND).await;
        assert_eq!(error["code"], "not_found", "{who}");
    }

    let ids = |body: Value| -> Vec<String> {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let anonymous = app.get("/api/datasets", None).await;
    assert_eq!(
        anonymous.headers()["cache-control"],
        "public, max-age=5, stale-if-error=600"
    );
    assert!(ids(anonymous.json().await.expect("list")).is_empty());
    let as_bob = app.get("/api/datasets", Some(&bob)).await;
    assert_eq!(as_bob.headers()["cache-control"], "private, no-store");
    assert!(ids(as_bob.json().await.expect("list")).is_empty());
    let as_ada = app.get("/api/datasets", Some(&ada)).await;
    assert_eq!(
        ids(as_ada.json().await.expect("list")),
        vec![created["id"].as_str().expect("id").to_owned()]
    );
    let missing = app.get("/api/datasets/not-a-dataset", None).await;
    error_body(missing, StatusCode::NOT_FOUND).await;
}
db_test!(private_datasets_are_seen_only_by_their_owner);

async fn the_list_pages_with_a_cursor(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, _) = app.user("ada@example.org").await;
    let (bob, _) = app.user("bob@example.org").await;
    let mut created = Vec::new();
    for n in 0..5 {
        let dataset = app.public_dataset(&ada, &format!("public-{n}")).await;
        created.push(dataset["id"].as_str().expect("id").to_owned());
    }
    // Bob's private one shows in his list only.
    let response = app.upload_csv(Some(&bob), "name=bobs", SMALL_CSV).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/datasets?limit=2&cursor={cursor}"),
            None => "/api/datasets?limit=2".to_owned(),
        };
        let body: Value = app.get(&path, None).await.json().await.expect("page");
        pages += 1;
        let items = body["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        for item in items {
            assert_eq!(item["visibility"], "public");
            assert!(
                item.get("analysis").is_none(),
                "the list carries summaries only"
            );
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    created.reverse();
    assert_eq!(seen, created, "every public dataset once, newest first");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5);

    let body: Value = app
        .get("/api/datasets?limit=100", Some(&bob))
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(body["items"].as_array().expect("items").len(), 6);
    assert!(body["next_cursor"].is_null());

    for bad in ["limit=0", "limit=101", "limit=abc", "cursor=%21%21"] {
        let response = app.get(&format!("/api/datasets?{bad}"), None).await;
        error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
}
db_test!(the_list_pages_with_a_cursor);

async fn owners_delete_and_others_cannot(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, _) = app.user("ada@example.org").await;
    let (bob, _) = app.user("bob@example.org").await;
    let public = app.public_dataset(&ada, "shared").await;
    let public_path = format!("/api/datasets/{}", public["id"].as_str().expect("id"));
    let private: Value = app
        .upload_csv(Some(&ada), "name=mine", SMALL_CSV)
        .await
        .json()
        .await
        .expect("body");
    let private_path = format!("/api/datasets/{}", private["id"].as_str().expect("id"));

    error_body(
        app.delete(&public_path, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    error_body(
        app.delete(&public_path, Some(&bob)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    error_body(
        app.delete(&private_path, Some(&bob)).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    for path in [&public_path, &private_path] {
        let response = app.delete(path, Some(&ada)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        error_body(app.get(path, Some(&ada)).await, StatusCode::NOT_FOUND).await;
        error_body(app.delete(path, Some(&ada)).await, StatusCode::NOT_FOUND).await;
    }
}
db_test!(owners_delete_and_others_cannot);
