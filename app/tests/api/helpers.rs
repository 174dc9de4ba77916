//! The harness: a fresh database per test (SQLite always, Postgres when `TEST_DATABASE_URL`
//! is set), the app served in-process on port 0, and a small request DSL.

use std::path::PathBuf;
use std::time::Duration;

use app::config::Config;
use app::startup::Application;
use app::state::AppState;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The secret every test instance shares.
pub(crate) const SECRET: &str = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
/// The password the DSL registers with.
pub(crate) const PASSWORD: &str = "correct horse battery";
/// How long a test waits for anything before failing.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// Runs `$name(&TestDb)` once on SQLite and once on Postgres (or says it skipped).
macro_rules! db_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = crate::helpers::TestDb::sqlite();
                super::$name(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match crate::helpers::TestDb::postgres().await {
                    Some(db) => super::$name(&db).await,
                    None => shared::testing::skip(
                        shared::testing::Component::Postgres,
                        concat!("the Postgres run of ", stringify!($name)),
                        "TEST_DATABASE_URL is not set",
                    ),
                }
            }
        }
    };
}
pub(crate) use db_test;

/// A database that exists for one test and is removed after it.
#[derive(Debug)]
pub(crate) struct TestDb {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A SQLite file in a fresh temporary directory.
    pub(crate) fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("flotilla-app-test-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", dir.join("app.db").display());
        Self {
            url,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh database on the `TEST_DATABASE_URL` server, or `None` when it is not set.
    pub(crate) async fn postgres() -> Option<Self> {
        let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
        let name = format!("flotilla_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = connect_pg(&admin_url).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let url = with_database(&admin_url, &name);
        Some(Self {
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// The URL to hand the app.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a fresh thread may block on its own.
                let _ = std::thread::spawn(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    runtime.block_on(async {
                        let mut conn = connect_pg(&admin_url).await;
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    });
                })
                .join();
            }
        }
    }
}

async fn connect_pg(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .expect("connect to TEST_DATABASE_URL")
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// The configuration tests start from: port 0, no drain wait, a known instance id.
pub(crate) fn test_config(db: &TestDb) -> Config {
    let mut config = Config::new(db.url(), SECRET);
    config.drain_secs = 0;
    config.instance_id = Some("test-instance".to_owned());
    config.max_upload_bytes = 64 * 1024;
    config.db_max_connections = 5;
    config
}

/// An app served in-process, and a client for it.
pub(crate) struct TestApp {
    /// Where it listens.
    pub(crate) addr: std::net::SocketAddr,
    /// A client without redirects.
    pub(crate) client: reqwest::Client,
    /// The app's state, for reading the database directly.
    pub(crate) state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Serves the app on `db` with the test configuration.
    pub(crate) async fn spawn(db: &TestDb) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// Serves the app on `db` after `tweak` adjusts the test configuration.
    pub(crate) async fn spawn_with(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> Self {
        shared::telemetry::init_for_tests();
        let mut config = test_config(db);
        tweak(&mut config);
        let app = Application::build(config).await.expect("build the app");
        Self::serve(app)
    }

    /// Runs an already built app.
    pub(crate) fn serve(app: Application) -> Self {
        let addr = app.addr();
        let state = app.state().clone();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stop.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("build a client");
        Self {
            addr,
            client,
            state,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// An absolute URL for `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path`, with a bearer token when given.
    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET")
    }

    /// `DELETE path`, with a bearer token when given.
    pub(crate) async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.delete(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("DELETE")
    }

    /// `POST /api/auth/register`.
    pub(crate) async fn register(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/auth/register"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("register")
    }

    /// `POST /api/auth/login` from `client_ip` (sent as `X-Forwarded-For`).
    pub(crate) async fn login_from(
        &self,
        email: &str,
        password: &str,
        client_ip: &str,
    ) -> Response {
        self.client
            .post(self.url("/api/auth/login"))
            .header("x-forwarded-for", client_ip)
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login")
    }

    /// Registers `email` with [`PASSWORD`] and returns `(token, user id)`.
    pub(crate) async fn user(&self, email: &str) -> (String, String) {
        let response = self.register(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
        let body: Value = response.json().await.expect("register body");
        (
            body["token"].as_str().expect("token").to_owned(),
            body["user"]["id"].as_str().expect("user id").to_owned(),
        )
    }

    /// `POST /api/datasets?{query}` with a `text/csv` body.
    pub(crate) async fn upload_csv(&self, token: Option<&str>, query: &str, csv: &str) -> Response {
        let mut request = self
            .client
            .post(self.url(&format!("/api/datasets?{query}")))
            .header("content-type", "text/csv")
            .body(csv.to_owned());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("upload")
    }

    /// Uploads a public CSV and returns the created dataset.
    pub(crate) async fn public_dataset(&self, token: &str, name: &str) -> Value {
        let response = self
            .upload_csv(
                Some(token),
                &format!("name={name}&visibility=public"),
                SMALL_CSV,
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("dataset body")
    }

    /// Starts the drain (as SIGTERM would) and returns the server task.
    pub(crate) fn begin_shutdown(&mut self) -> JoinHandle<anyhow::Result<()>> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.server.take().expect("server task taken once")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Two data rows, three columns.
pub(crate) const SMALL_CSV: &str =
    "city,population,coastal\nLisbon,545000,true\nMadrid,3223000,false\n";

/// The JSON error body's `error` object, after asserting the status.
pub(crate) async fn error_body(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let body: Value = response.json().await.expect("JSON error body");
    assert!(body["error"]["code"].is_string(), "error code in {body}");
    assert!(
        body["error"]["message"].is_string(),
        "error message in {body}"
    );
    body["error"].clone()
}
