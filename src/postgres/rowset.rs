//! Rows handed to set-based statements as one text array per column.
//!
//! The staging insert and the vault loaders read their input as
//! `(SELECT i.c1::type1, ... FROM unnest($1::text[], $2::text[], ...) AS i (c1, ...))`, each
//! column cast to its table column's type. This replaced `jsonb_populate_recordset` over one
//! JSON document per statement, which made PostgreSQL parse the whole batch into jsonb, look
//! every field up by key and print it back to text before the same input function ran; measured
//! on a drain of 10,000 events, the JSON way cost about a third of the drain's time outside
//! the statements themselves.
//!
//! The text of a value is what `jsonb_populate_recordset` would have given the column's input
//! function: strings as they are, other scalars as their JSON text, and for `jsonb` and array
//! columns the JSON text of the value.

use crate::postgres::error::OrInternal;
use crate::postgres::spi;
use pgrx::datum::DatumWithOid;
use pgrx::spi::SpiClient;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// How a column's text is turned into its type.
#[derive(Clone)]
enum Cast {
    /// `i.c::type`: the type's input function reads the text.
    Input(Rc<str>),
    /// `jsonb`: the JSON text of the value.
    Json,
    /// An array type: the JSON array's elements become the array's elements.
    Array(Rc<str>),
}

type Casts = Rc<HashMap<String, Cast>>;

thread_local! {
    /// Column casts per table, read from the catalogue once per backend.
    static CASTS: RefCell<HashMap<&'static str, Casts>> = RefCell::new(HashMap::new());
}

fn casts_of(client: &mut SpiClient<'_>, table: &'static str) -> Casts {
    if let Some(casts) = CASTS.with(|c| c.borrow().get(table).cloned()) {
        return casts;
    }
    let casts: HashMap<String, Cast> = spi::execute(
        client,
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid = 'jsonb'::regtype,
                t.typcategory = 'A'
           FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid
          WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        &[table.into()],
    )
    .or_internal("column types")
    .map(|row| {
        let name: String = spi::column(&row, 1, "attname");
        let type_name: Rc<str> = row
            .get::<String>(2)
            .ok()
            .flatten()
            .or_internal("format_type")
            .into();
        let cast = if row.get::<bool>(3).ok().flatten() == Some(true) {
            Cast::Json
        } else if row.get::<bool>(4).ok().flatten() == Some(true) {
            Cast::Array(type_name)
        } else {
            Cast::Input(type_name)
        };
        (name, cast)
    })
    .collect();
    let casts = Rc::new(casts);
    CASTS.with(|c| c.borrow_mut().insert(table, Rc::clone(&casts)));
    casts
}

/// Rows for the columns of one table, gathered column by column.
pub struct RowSet {
    columns: Vec<&'static str>,
    casts: Vec<Cast>,
    arrays: Vec<Vec<Option<String>>>,
}

impl RowSet {
    /// An empty set of rows for `columns` of `table` (schema-qualified).
    pub fn new(client: &mut SpiClient<'_>, table: &'static str, columns: &[&'static str]) -> Self {
        let known = casts_of(client, table);
        let casts = columns
            .iter()
            .map(|c| {
                known
                    .get(*c)
                    .cloned()
                    .unwrap_or_else(|| panic!("{table} has no column {c}"))
            })
            .collect();
        RowSet {
            columns: columns.to_vec(),
            casts,
            arrays: vec![Vec::new(); columns.len()],
        }
    }

    /// Adds a row given as a JSON object keyed by column name (a missing key is NULL).
    pub fn push(&mut self, row: &Map<String, Value>) {
        for ((column, cast), array) in self.columns.iter().zip(&self.casts).zip(&mut self.arrays) {
            array.push(row.get(*column).and_then(|value| text_of(value, cast)));
        }
    }

    /// The rows as a subquery, its parameters numbered from `$first`; its columns carry the
    /// column names.
    pub fn subquery(&self, first: usize) -> String {
        let params: Vec<String> = (0..self.columns.len())
            .map(|i| format!("${}::text[]", first + i))
            .collect();
        let selected: Vec<String> = self
            .columns
            .iter()
            .zip(&self.casts)
            .map(|(column, cast)| match cast {
                Cast::Input(type_name) => format!("i.{column}::{type_name} AS {column}"),
                Cast::Json => format!("i.{column}::jsonb AS {column}"),
                Cast::Array(type_name) => format!(
                    "CASE WHEN i.{column} IS NULL THEN NULL
                          ELSE ARRAY(SELECT jsonb_array_elements_text(i.{column}::jsonb)) END::{type_name} AS {column}"
                ),
            })
            .collect();
        format!(
            "(SELECT {} FROM unnest({}) AS i ({}))",
            selected.join(", "),
            params.join(", "),
            self.columns.join(", ")
        )
    }

    /// The parameters of `subquery`, in order.
    pub fn into_args(self) -> Vec<DatumWithOid<'static>> {
        self.arrays.into_iter().map(|array| array.into()).collect()
    }
}

fn text_of(value: &Value, cast: &Cast) -> Option<String> {
    match (value, cast) {
        (Value::Null, _) => None,
        (Value::String(text), Cast::Input(_)) => Some(text.clone()),
        (other, _) => Some(other.to_string()),
    }
}
