//! SQL text shared by the stores.

/// `columns` (a comma-separated list) with each name prefixed by `alias`,
/// for a store's column list in a query that joins other tables.
pub fn prefixed(columns: &str, alias: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
