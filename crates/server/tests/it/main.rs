//! The server crate's integration tests, in one binary to keep link time down.

mod api1_admin;
mod api1_common;
mod api1_data;
mod api1_jobs;
mod api1_models_logs;
mod auth;
mod dbserver;
mod docker;
mod edge;
mod engine_application;
mod golden_api1;
mod grants;
mod http;
mod instances;
mod lifecycle;
mod relay;
mod scheduler;
mod site_auth;
mod store;
mod support;
mod tls;
mod two_sites;
mod ui;
mod worker_auth;

/// One test per backend for each named `async fn(Backend)`: `<name>::sqlite` runs always;
/// `<name>::postgresql` and `<name>::mariadb` start real servers (`dbserver`) and are
/// ignored unless asked for (`cargo test -p ferroflow-server --test it -- --ignored`, as
/// `.ci/run` does). A test's sites (`support::TestSite`) use the backend it runs on.
#[macro_export]
macro_rules! on_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use $crate::dbserver::Backend;

            #[tokio::test]
            async fn sqlite() {
                $crate::support::on(Backend::Sqlite, super::$name(Backend::Sqlite)).await
            }

            #[tokio::test]
            #[ignore = "starts PostgreSQL; run with --ignored"]
            async fn postgresql() {
                $crate::support::on(Backend::Postgres, super::$name(Backend::Postgres)).await
            }

            #[tokio::test]
            #[ignore = "starts MariaDB; run with --ignored"]
            async fn mariadb() {
                $crate::support::on(Backend::MariaDb, super::$name(Backend::MariaDb)).await
            }
        }
    )*};
}
