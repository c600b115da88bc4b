//! One module per resource, each returning its `Router<AppState>`.

pub(crate) mod compare;
pub(crate) mod datasets;
pub(crate) mod detect;
pub(crate) mod explain;
pub(crate) mod marks;
pub(crate) mod models;
pub(crate) mod ops;
pub(crate) mod runs;
pub(crate) mod ui;
