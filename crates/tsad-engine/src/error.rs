//! The engine's error: invalid configuration, or a failure from a detector or the ingest.

/// What went wrong while parsing a spec or running a detection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The spec is invalid; every problem found is listed, each with its path.
    #[error("invalid detector configuration: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    /// A detector, model or threshold failed.
    #[error(transparent)]
    Detector(#[from] tsad_core::Error),
    /// The input file could not be read.
    #[error(transparent)]
    Ingest(#[from] tsad_io::IngestError),
}

impl EngineError {
    /// The stable error code used by the API and the CLI's JSON output.
    pub fn code(&self) -> &'static str {
        use tsad_core::Error as E;
        match self {
            EngineError::InvalidConfig(_) => "invalid_config",
            EngineError::Ingest(_) => "invalid_csv",
            EngineError::Detector(e) => match e {
                E::InvalidParameter { .. } => "invalid_parameter",
                E::InvalidSeries { .. } => "invalid_series",
                E::NotEnoughData { .. } => "not_enough_data",
                E::Cancelled => "cancelled",
                E::Load { .. } => "conflict",
                _ => "internal",
            },
        }
    }
}
