//! The backends alike: a refused login that never shows its password, and one schema on
//! all three.

use super::*;

/// A refused login is said at once, and the error (its whole chain) never holds the password.
#[tokio::test]
#[ignore = "starts PostgreSQL and MariaDB; run with --ignored"]
async fn a_wrong_password_is_refused_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    for db in [Backend::Postgres, Backend::MariaDb] {
        let url = db
            .fresh_url(dir.path())
            .replace(Backend::password(), "wrong-secret-pw");
        let err = Store::open(&url).await.unwrap_err();
        let mut chain = format!("{err} {err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(e) = source {
            chain.push_str(&format!(" / {e}"));
            source = e.source();
        }
        assert!(!chain.contains("wrong-secret-pw"), "{db:?}: {chain}");
        assert!(
            chain.contains("password") || chain.contains("denied"),
            "{db:?} names the cause: {chain}"
        );
    }
}

/// Tables, columns (with their NULLability), primary keys and index names, as a backend's
/// catalogue reports them.
async fn schema_of(db: Backend, url: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    use sqlx::Row;
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let text = |r: &sqlx::any::AnyRow, i: usize| -> String {
        r.try_get::<String, _>(i)
            .unwrap_or_else(|_| String::from_utf8(r.try_get::<Vec<u8>, _>(i).unwrap()).unwrap())
    };
    let (columns, keys, indexes) = match db {
        Backend::Sqlite => (
            "SELECT m.name, p.name, CASE WHEN p.\"notnull\" = 1 OR p.pk > 0 THEN 'NO' ELSE 'YES' END
             FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'
               AND m.name NOT LIKE 'sqlite_%'",
            "SELECT m.name, p.name, p.pk FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND p.pk > 0",
            "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'
               AND name NOT LIKE 'sqlite_autoindex%'",
        ),
        Backend::Postgres => (
            "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT), CAST(is_nullable AS TEXT)
             FROM information_schema.columns WHERE table_schema = 'public'",
            "SELECT CAST(k.table_name AS TEXT), CAST(k.column_name AS TEXT),
                CAST(k.ordinal_position AS BIGINT)
             FROM information_schema.table_constraints c JOIN information_schema.key_column_usage k
               ON k.constraint_name = c.constraint_name AND k.table_name = c.table_name
             WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = 'public'",
            "SELECT CAST(tablename AS TEXT), CAST(indexname AS TEXT) FROM pg_indexes
             WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'",
        ),
        Backend::MariaDb => (
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns
             WHERE table_schema = DATABASE()",
            "SELECT table_name, column_name, CAST(seq_in_index AS SIGNED)
             FROM information_schema.statistics
             WHERE table_schema = DATABASE() AND index_name = 'PRIMARY'",
            "SELECT DISTINCT table_name, index_name FROM information_schema.statistics
             WHERE table_schema = DATABASE() AND index_name <> 'PRIMARY'",
        ),
    };
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in sqlx::query(columns).fetch_all(&pool).await.unwrap() {
        let nullable = if text(&r, 2) == "YES" {
            "NULL"
        } else {
            "NOT NULL"
        };
        out.entry(text(&r, 0).to_lowercase())
            .or_default()
            .push(format!("{} {nullable}", text(&r, 1)));
    }
    for r in sqlx::query(keys).fetch_all(&pool).await.unwrap() {
        let pos: i64 = r.try_get(2).unwrap();
        out.entry(text(&r, 0).to_lowercase())
            .or_default()
            .push(format!("primary key {pos}: {}", text(&r, 1)));
    }
    for r in sqlx::query(indexes).fetch_all(&pool).await.unwrap() {
        out.entry(text(&r, 0).to_lowercase())
            .or_default()
            .push(format!("index {}", text(&r, 1)));
    }
    for v in out.values_mut() {
        v.sort();
    }
    pool.close().await;
    out
}

/// The migrations of every backend make the same tables, columns, keys and indexes.
#[tokio::test]
#[ignore = "starts PostgreSQL and MariaDB; run with --ignored"]
async fn every_backend_has_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut schemas = Vec::new();
    for db in [Backend::Sqlite, Backend::Postgres, Backend::MariaDb] {
        let url = db.fresh_url(dir.path());
        Store::open(&url).await.unwrap().close().await;
        schemas.push((db, schema_of(db, &url).await));
    }
    let (_, sqlite) = &schemas[0];
    assert!(sqlite.len() >= 20, "{sqlite:?}");
    for (db, schema) in &schemas[1..] {
        for (table, cols) in sqlite {
            assert_eq!(schema.get(table), Some(cols), "{db:?}: {table}");
        }
        assert_eq!(
            schema.keys().collect::<Vec<_>>(),
            sqlite.keys().collect::<Vec<_>>(),
            "{db:?}"
        );
    }
}
