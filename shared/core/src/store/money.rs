//! Money per currency: a sale's amounts are kept per ISO 4217 code and never
//! added across currencies (README, "Data model").

use std::collections::BTreeMap;
use std::fmt;

/// Three ASCII letters, kept uppercase (`eur` is read as `EUR`). The code is a
/// Firestore field name under `revenue` / `profit` (`revenue.EUR`): three
/// uppercase letters need no quoting in a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(String);

/// ISO 4217's code for "no currency": what a sale that names none is counted in.
pub const NO_CURRENCY: &str = "XXX";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a currency code (three letters, ISO 4217)")]
pub struct InvalidCurrency(pub String);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, InvalidCurrency> {
        let code = code.trim();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(code.to_ascii_uppercase()))
        } else {
            // Cut: the error ends up in logs and responses.
            Err(InvalidCurrency(crate::excerpt::preview(code, 16)))
        }
    }

    /// `XXX`.
    pub fn none() -> Self {
        Self(NO_CURRENCY.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One currency's change within an item update.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Money {
    /// `revenue += price × quantity` (negative for a refund).
    pub revenue: f64,
    /// `profit += (price − cost) × quantity`, when the catalog knows the cost.
    pub profit: Option<f64>,
}

/// Amounts by currency code, as readers see them.
pub type Amounts = BTreeMap<String, f64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        assert_eq!(Currency::parse(" dkk ").unwrap().as_str(), "DKK");
        for bad in ["", "EU", "EURO", "E.R", "€UR", "12A", "a`b"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Currency::none().as_str(), NO_CURRENCY);
    }
}
