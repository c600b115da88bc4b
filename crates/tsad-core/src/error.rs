//! The error every detector, model and threshold returns.

/// What went wrong while building, fitting or running a detector.
///
/// Messages are lowercase, name the offending parameter or quantity, and say what would be
/// accepted, so they can be shown to users as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is outside its allowed range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name as written in a spec (`window`, `sigma`, ...).
        name: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// The series itself cannot be used (lengths differ, timestamps not increasing, ...).
    #[error("invalid series: {reason}")]
    InvalidSeries {
        /// What is wrong with it.
        reason: String,
    },
    /// The series is shorter than the detector needs.
    #[error("not enough data: need {needed} points, got {got}")]
    NotEnoughData {
        /// Points the detector needs.
        needed: usize,
        /// Points it was given.
        got: usize,
    },
    /// The caller cancelled a long-running fit.
    #[error("cancelled")]
    Cancelled,
    /// A saved model could not be loaded (wrong kind, version or shape).
    #[error("cannot load model: {reason}")]
    Load {
        /// What did not match.
        reason: String,
    },
    /// A failure inside a backend (numeric kernel, serialisation library, ...).
    #[error("backend failure: {source}")]
    Backend {
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid_parameter(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::InvalidSeries`].
    pub fn invalid_series(reason: impl Into<String>) -> Self {
        Error::InvalidSeries {
            reason: reason.into(),
        }
    }

    /// Wraps any backend error.
    pub fn backend(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Backend {
            source: Box::new(source),
        }
    }
}
