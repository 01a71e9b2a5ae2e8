//! The conditions of a statement assembled at run time (the query routes' optional
//! filters), written once: each kind of condition and its values, bound in order.

use sqlx::any::AnyRow;

use super::{Query, Result, Store, escape_like};

/// A value of a condition.
enum Arg {
    Text(String),
    Int(i64),
}

/// `WHERE` and its conditions, joined by `AND`; an empty filter matches every row.
pub(super) struct Filter {
    sql: String,
    args: Vec<Arg>,
}

impl Filter {
    pub fn new() -> Self {
        Self {
            sql: " WHERE 1 = 1".into(),
            args: Vec::new(),
        }
    }

    /// A condition with no value (`f_tag <> 'submit_failed'`).
    pub fn fixed(mut self, condition: &str) -> Self {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
        self
    }

    /// `column = ?` for each given value.
    pub fn equal<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Self {
        for (col, v) in pairs {
            if let Some(v) = v {
                self.sql.push_str(&format!(" AND {col} = ?"));
                self.args.push(Arg::Text(v.to_string()));
            }
        }
        self
    }

    /// `column <op> ?` with a number, when given.
    pub fn compare(mut self, col: &str, op: &str, v: Option<i64>) -> Self {
        if let Some(v) = v {
            self.sql.push_str(&format!(" AND {col} {op} ?"));
            self.args.push(Arg::Int(v));
        }
        self
    }

    /// `column LIKE ?`: the value found anywhere in the column (`contains`) or at its start,
    /// taken literally.
    pub fn like(mut self, col: &str, v: Option<&str>, contains: bool) -> Self {
        if let Some(v) = v {
            self.sql.push_str(&format!(" AND {col} LIKE ? ESCAPE '!'"));
            let lead = if contains { "%" } else { "" };
            self.args
                .push(Arg::Text(format!("{lead}{}%", escape_like(v))));
        }
        self
    }

    /// `column IN (?, …)` when the list is not empty.
    pub fn one_of(mut self, col: &str, values: &[String]) -> Self {
        if !values.is_empty() {
            let marks = vec!["?"; values.len()].join(", ");
            self.sql.push_str(&format!(" AND {col} IN ({marks})"));
            self.args.extend(values.iter().cloned().map(Arg::Text));
        }
        self
    }

    /// The `WHERE …` text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    fn bind<'q>(&self, mut q: Query<'q>) -> Query<'q> {
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

impl Store {
    /// The rows of `{head}{filter}{tail}` (`head` a `SELECT … FROM …`, `tail` its order and
    /// page).
    pub(super) async fn select(&self, head: &str, f: &Filter, tail: &str) -> Result<Vec<AnyRow>> {
        let sql = self.dynamic(format!("{head}{}{tail}", f.sql()));
        Ok(f.bind(sqlx::query(&sql)).fetch_all(&self.read).await?)
    }

    /// How many rows of `from` (a table, or a table and its index hint) match.
    pub(super) async fn count(&self, from: &str, f: &Filter) -> Result<i64> {
        let sql = self.dynamic(format!("SELECT COUNT(*) AS n FROM {from}{}", f.sql()));
        let row = f.bind(sqlx::query(&sql)).fetch_one(&self.read).await?;
        super::get_i64(&row, "n")
    }
}

/// ` LIMIT … OFFSET …` of a page, or nothing for every row (`limit` ≤ 0).
pub(super) fn page(limit: i64, offset: i64) -> String {
    if limit > 0 {
        format!(" LIMIT {limit} OFFSET {}", offset.max(0))
    } else {
        String::new()
    }
}
