//! The `sql` contact source: the company's own database.
//!
//! One bounded pool per source (SQLite, PostgreSQL or MySQL/MariaDB),
//! opened lazily so the service starts while the database is down. The
//! configured query gets exactly one bound parameter, the caller's E.164
//! number; the columns of the first row become the contact's fields with
//! their SQL types (text, integer, boolean, real, null). A column of
//! another type (a date, a decimal in PostgreSQL) is an error that says
//! to cast it in the query. Statements time out on the server too
//! (`statement_timeout` on PostgreSQL, `max_statement_time` on MariaDB),
//! so a slow query does not keep holding a connection after the lookup
//! gave up.
//!
//! What it must not do: build SQL from the caller's number (it is bound),
//! or write (SQLite files are opened read-only).

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlColumn, MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgColumn, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteColumn, SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Column, Either, Executor, Row, Statement, TypeInfo, ValueRef};

use super::config::SqlSourceConfig;
use super::SourceError;
use crate::config::redact_url;
use crate::lang::{Contact, Value};

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    Mysql(MySqlPool),
}

/// A database of contacts.
#[derive(Debug, Clone)]
pub struct SqlSource {
    pool: Pool,
    query: String,
    /// The URL without its password, for messages.
    shown: String,
}

/// What `check --config` learns about a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The columns the query returns: the contact's fields.
    pub columns: Vec<String>,
}

impl SqlSource {
    /// Sets up the pool without connecting. `timeout` is the lookup
    /// timeout: connections are waited for that long at most, and
    /// statements are cancelled by the server after it.
    pub fn new(config: &SqlSourceConfig, timeout: Duration) -> Result<SqlSource, SourceError> {
        let shown = redact_url(&config.url);
        let bad_url = |error: sqlx::Error| SourceError::Config(format!("{shown}: {error}"));
        let max = config.pool_size.max(1);
        let millis = timeout.as_millis().max(1);
        let pool = if config.url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(&config.url)
                .map_err(bad_url)?
                .read_only(true)
                .create_if_missing(false);
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max)
                    .min_connections(0)
                    .acquire_timeout(timeout)
                    .connect_lazy_with(options),
            )
        } else if config.url.starts_with("postgres") {
            let options = PgConnectOptions::from_str(&config.url)
                .map_err(bad_url)?
                .options([("statement_timeout", format!("{millis}ms"))]);
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max)
                    .min_connections(0)
                    .acquire_timeout(timeout)
                    .connect_lazy_with(options),
            )
        } else {
            let url = config.url.replacen("mariadb://", "mysql://", 1);
            let options = MySqlConnectOptions::from_str(&url).map_err(bad_url)?;
            #[expect(clippy::cast_precision_loss, reason = "a timeout in seconds")]
            let seconds = millis as f64 / 1000.0;
            Pool::Mysql(
                MySqlPoolOptions::new()
                    .max_connections(max)
                    .min_connections(0)
                    .acquire_timeout(timeout)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            // MariaDB's name, then MySQL's; a server that
                            // knows neither still works, without the limit.
                            let mariadb = format!("SET SESSION max_statement_time = {seconds}");
                            if conn.execute(mariadb.as_str()).await.is_err() {
                                let mysql = format!("SET SESSION max_execution_time = {millis}");
                                let _ = conn.execute(mysql.as_str()).await;
                            }
                            Ok(())
                        })
                    })
                    .connect_lazy_with(options),
            )
        };
        Ok(SqlSource {
            pool,
            query: config.query.clone(),
            shown,
        })
    }

    /// The contact of `e164`, from the first row, or `None` when there is no row.
    pub async fn find(&self, e164: &str) -> Result<Option<Contact>, SourceError> {
        match &self.pool {
            Pool::Sqlite(pool) => first_contact(pool, &self.query, e164, sqlite_value).await,
            Pool::Postgres(pool) => first_contact(pool, &self.query, e164, pg_value).await,
            Pool::Mysql(pool) => first_contact(pool, &self.query, e164, mysql_value).await,
        }
    }

    /// Connects and prepares the query (without running it): the query
    /// must take exactly one parameter; returns the columns it yields.
    pub async fn prepare(&self) -> Result<Prepared, SourceError> {
        let (parameters, columns) = match &self.pool {
            Pool::Sqlite(pool) => shape(pool, &self.query).await?,
            Pool::Postgres(pool) => shape(pool, &self.query).await?,
            Pool::Mysql(pool) => shape(pool, &self.query).await?,
        };
        if let Some(parameters) = parameters {
            if parameters != 1 {
                return Err(SourceError::Config(format!(
                    "the query takes {parameters} parameters; it must take exactly one, the caller's E.164 number ($1 or ?)"
                )));
            }
        }
        Ok(Prepared { columns })
    }

    /// The database, without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
            Pool::Mysql(pool) => pool.close().await,
        }
    }
}

/// Reads one column of a row as a contact field: one per engine, since
/// each names and stores its types its own way.
type ReadColumn<DB> = fn(
    &<DB as sqlx::Database>::Row,
    usize,
    &<DB as sqlx::Database>::Column,
) -> Result<Value, SourceError>;

/// Runs `query` with `e164` bound and makes a contact of the first row,
/// each column read by the engine's `value_of`.
async fn first_contact<DB>(
    pool: &sqlx::Pool<DB>,
    query: &str,
    e164: &str,
    value_of: ReadColumn<DB>,
) -> Result<Option<Contact>, SourceError>
where
    DB: sqlx::Database,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let row = sqlx::query::<DB>(query)
        .bind(e164)
        .fetch_optional(pool)
        .await
        .map_err(|error| SourceError::Query(error.to_string()))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut contact = Contact::default();
    for (index, column) in row.columns().iter().enumerate() {
        contact.insert(column.name(), value_of(&row, index, column)?);
    }
    Ok(Some(contact))
}

/// How many parameters `query` takes (when the engine says) and the names
/// of the columns it yields, from preparing it.
async fn shape<DB>(
    pool: &sqlx::Pool<DB>,
    query: &str,
) -> Result<(Option<usize>, Vec<String>), SourceError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let statement = pool
        .prepare(query)
        .await
        .map_err(|error| SourceError::Query(error.to_string()))?;
    let parameters = statement.parameters().map(|parameters| match parameters {
        Either::Left(types) => types.len(),
        Either::Right(count) => count,
    });
    let columns = statement
        .columns()
        .iter()
        .map(|column| column.name().to_owned())
        .collect();
    Ok((parameters, columns))
}

fn unsupported(column: &str, kind: &str) -> SourceError {
    SourceError::Query(format!(
        "column `{column}` has SQL type {kind}, which a contact field cannot hold; \
         cast it in the query to text, an integer or a boolean"
    ))
}

fn decode_error(column: &str, error: sqlx::Error) -> SourceError {
    SourceError::Query(format!("cannot read column `{column}`: {error}"))
}

fn pg_value(row: &PgRow, index: usize, column: &PgColumn) -> Result<Value, SourceError> {
    let name = column.name();
    let raw = row.try_get_raw(index).map_err(|e| decode_error(name, e))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let get_err = |e| decode_error(name, e);
    Ok(match column.type_info().name() {
        "BOOL" => Value::Bool(row.try_get(index).map_err(get_err)?),
        "INT2" => Value::Int(i64::from(row.try_get::<i16, _>(index).map_err(get_err)?)),
        "INT4" => Value::Int(i64::from(row.try_get::<i32, _>(index).map_err(get_err)?)),
        "INT8" => Value::Int(row.try_get(index).map_err(get_err)?),
        "FLOAT4" => Value::Float(f64::from(row.try_get::<f32, _>(index).map_err(get_err)?)),
        "FLOAT8" => Value::Float(row.try_get(index).map_err(get_err)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" | "UNKNOWN" => {
            Value::Text(row.try_get_unchecked(index).map_err(get_err)?)
        }
        other => return Err(unsupported(name, other)),
    })
}

fn sqlite_value(
    row: &SqliteRow,
    index: usize,
    column: &SqliteColumn,
) -> Result<Value, SourceError> {
    let name = column.name();
    let declared = column.type_info().name().to_ascii_uppercase();
    let raw = row.try_get_raw(index).map_err(|e| decode_error(name, e))?;
    let storage = raw.type_info().name().to_owned();
    let get_err = |e| decode_error(name, e);
    // SQLite stores booleans as integers; the declared type says which.
    Ok(match storage.as_str() {
        _ if raw.is_null() => Value::Null,
        "NULL" => Value::Null,
        "INTEGER" if declared.contains("BOOL") => {
            Value::Bool(row.try_get_unchecked::<i64, _>(index).map_err(get_err)? != 0)
        }
        "INTEGER" | "BOOLEAN" => Value::Int(row.try_get_unchecked(index).map_err(get_err)?),
        "REAL" | "NUMERIC" => Value::Float(row.try_get_unchecked(index).map_err(get_err)?),
        "TEXT" => Value::Text(row.try_get_unchecked(index).map_err(get_err)?),
        other => return Err(unsupported(name, other)),
    })
}

fn mysql_value(row: &MySqlRow, index: usize, column: &MySqlColumn) -> Result<Value, SourceError> {
    let name = column.name();
    let raw = row.try_get_raw(index).map_err(|e| decode_error(name, e))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let get_err = |e| decode_error(name, e);
    let kind = column.type_info().name();
    Ok(match kind {
        // TINYINT(1), which MySQL calls BOOLEAN.
        "BOOLEAN" => Value::Bool(row.try_get_unchecked::<i64, _>(index).map_err(get_err)? != 0),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
            Value::Int(row.try_get_unchecked(index).map_err(get_err)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" => {
            let unsigned: u64 = row.try_get_unchecked(index).map_err(get_err)?;
            match i64::try_from(unsigned) {
                Ok(int) => Value::Int(int),
                Err(_) => return Err(unsupported(name, "BIGINT UNSIGNED above 2^63")),
            }
        }
        "FLOAT" => Value::Float(f64::from(
            row.try_get_unchecked::<f32, _>(index).map_err(get_err)?,
        )),
        "DOUBLE" => Value::Float(row.try_get_unchecked(index).map_err(get_err)?),
        // Sent as text by the server.
        "DECIMAL" => {
            let text: String = row.try_get_unchecked(index).map_err(get_err)?;
            match text.parse::<f64>() {
                Ok(number) => Value::Float(number),
                Err(_) => return Err(unsupported(name, kind)),
            }
        }
        "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET"
        | "JSON" => Value::Text(row.try_get_unchecked(index).map_err(get_err)?),
        other => return Err(unsupported(name, other)),
    })
}
