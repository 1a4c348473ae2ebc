//! Reading inventory files and time arguments.

use anyhow::Context;
use chrono::{DateTime, Utc};
use curfew_engine::Inventory;
use std::io::Read;

/// Reads an input file's text from a path, or stdin for `-`.
pub(crate) fn read_text(path: &str) -> anyhow::Result<String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the inventory from stdin")?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading inventory '{path}'"))
    }
}

/// Reads and parses an inventory from a path, or stdin for `-`.
pub(crate) fn read_inventory(path: &str) -> anyhow::Result<Inventory> {
    Ok(curfew_engine::inventory::parse(&read_text(path)?, path)?)
}

/// Parses an RFC 3339 instant given on the command line.
pub(crate) fn parse_instant(flag: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            anyhow::anyhow!(
                "{flag} '{text}' is not an RFC 3339 date-time such as 2026-03-08T00:00:00Z"
            )
        })
}
