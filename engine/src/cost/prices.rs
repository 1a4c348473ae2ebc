//! The price sheet: price per VM size per hour, with its currency, source and date.

use super::CostError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The shipped defaults: approximate pay-as-you-go Linux list prices in one region, dated; the
/// file says where they come from. Overridable with a file of the same format.
pub const DEFAULT_PRICES_JSON: &str = include_str!("../../data/prices.json");

/// Prices per VM size per hour. Sizes are matched case-insensitively (`STANDARD_NC6`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceSheet {
    /// ISO 4217 currency of every price (`USD`).
    pub currency: String,
    /// The region the prices are for, if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// When the prices were taken (free text, e.g. `2025-06`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Where they come from, in words (reports print it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// VM size → price per hour.
    pub prices: BTreeMap<String, f64>,
    #[serde(skip)]
    by_lower: HashMap<String, f64>,
}

impl PriceSheet {
    /// The compiled-in defaults (`engine/data/prices.json`).
    pub fn defaults() -> Self {
        // The shipped file is checked by a test; a broken one is a build defect.
        Self::from_json(DEFAULT_PRICES_JSON, "engine/data/prices.json")
            .unwrap_or_else(|e| panic!("shipped price sheet: {e}"))
    }

    /// Reads a price sheet (format in `docs/cost.md`); errors name the file and JSON path.
    /// Negative or non-finite prices are errors.
    pub fn from_json(text: &str, source_name: &str) -> Result<Self, CostError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let mut sheet: Self =
            serde_path_to_error::deserialize(de).map_err(|e| CostError::Format {
                source_name: source_name.to_owned(),
                location: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        for (size, price) in &sheet.prices {
            if !price.is_finite() || *price < 0.0 {
                return Err(CostError::Format {
                    source_name: source_name.to_owned(),
                    location: format!("prices.{size}"),
                    message: format!("price {price} is not a non-negative number"),
                });
            }
        }
        sheet.by_lower = sheet
            .prices
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), *v))
            .collect();
        Ok(sheet)
    }

    /// Price per hour of `vm_size`, if the sheet has it.
    pub fn price(&self, vm_size: &str) -> Option<f64> {
        self.by_lower.get(&vm_size.to_ascii_lowercase()).copied()
    }

    /// The sheet's provenance in one line (`USD, eastus, 2025-06: <source>`).
    pub fn provenance(&self) -> String {
        let mut parts = vec![self.currency.clone()];
        parts.extend(self.region.clone());
        parts.extend(self.as_of.clone());
        match &self.source {
            Some(source) => format!("{}: {source}", parts.join(", ")),
            None => parts.join(", "),
        }
    }
}
