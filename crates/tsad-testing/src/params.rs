//! Table tests of a detector's parameter validation.

use serde::de::DeserializeOwned;
use std::fmt::Debug;
use tsad_core::Error;

/// Runs `new` on each case's parameters, given as JSON: `None` expects them accepted,
/// `Some(text)` expects an error whose message contains `text` (STYLE.md: it names every
/// field at fault).
///
/// # Panics
///
/// When a case's JSON does not parse, or `new` accepts or rejects against the expectation.
pub fn check_params<P, D>(new: impl Fn(P) -> Result<D, Error>, cases: &[(&str, &str, Option<&str>)])
where
    P: DeserializeOwned,
    D: Debug,
{
    for &(name, json, want) in cases {
        let params: P = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("{name}: the parameters do not parse: {e}"));
        match (new(params), want) {
            (Ok(_), None) => {}
            (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{name}: {e}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}
