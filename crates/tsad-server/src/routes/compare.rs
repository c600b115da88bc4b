//! Two runs on the same data side by side: the settings they differ in, and which events each
//! found that the other did not (events overlapping in time count as the same anomaly).

use crate::api::EventOrder;
use crate::error::{ApiError, ApiQuery, ErrorBody};
use crate::events::{listing, spans};
use crate::settings::{Difference, differences, labels};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/runs/{id}/compare", get(runs_compare))
}

/// `GET /api/v1/runs/{id}/compare` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompareQuery {
    /// The other run's id: a succeeded run on the same dataset (and series).
    pub(crate) with: String,
}

/// One side of a comparison.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ComparedRun {
    /// Run id.
    pub(crate) id: String,
    /// The name the user gave it, if any.
    pub(crate) name: Option<String>,
    /// Its detector and the settings it does not share with the other run (`mad · window 96`).
    pub(crate) label: String,
    /// Its events.
    pub(crate) event_count: usize,
    /// Its events that overlap an event of the other run.
    pub(crate) shared: usize,
}

/// `GET /api/v1/runs/{id}/compare`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunComparison {
    /// The run asked about.
    pub(crate) run: ComparedRun,
    /// The run it is compared with.
    pub(crate) other: ComparedRun,
    /// The settings that differ (detector, its parameters, threshold, training part, event
    /// options, value column); empty when the two were asked alike.
    pub(crate) differences: Vec<Difference>,
    /// Per event of the run, in time order (its `index`): whether an event of the other run
    /// overlaps it.
    pub(crate) run_events_shared: Vec<bool>,
    /// The other run's events in time order (as `GET /runs/{id}/events?order=time&limit=0`),
    /// each with `shared`: whether an event of the run overlaps it.
    #[schema(value_type = Vec<Object>)]
    pub(crate) other_events: Vec<Value>,
}

/// For each span of `a`, whether a span of `b` overlaps it. A run's events are disjoint and in
/// time order, so the only candidate is the first span of `b` that does not end before it starts.
fn overlapped(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<bool> {
    a.iter()
        .map(|&(s, e)| {
            let i = b.partition_point(|&(_, end)| end < s);
            b.get(i).is_some_and(|&(start, _)| start <= e)
        })
        .collect()
}

/// Compare a run with another run on the same data: what differs and which events each found.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}/compare", tag = "runs",
    params(("id" = String, Path, description = "run id"), CompareQuery),
    responses(
        (status = 200, description = "the comparison", body = RunComparison),
        (status = 404, description = "unknown run (either)", body = ErrorBody),
        (status = 409, description = "either run has not succeeded, or covers many series", body = ErrorBody),
        (status = 422, description = "`with` names the run itself, or a run on other data", body = ErrorBody),
    )
)]
pub(crate) async fn runs_compare(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<CompareQuery>,
) -> Result<Json<RunComparison>, ApiError> {
    if q.with == id {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            "with: that is the run itself; name another run on the same dataset",
        ));
    }
    let run = crate::routes::runs::succeeded_run(&state, &id).await?;
    let other = crate::routes::runs::succeeded_run(&state, &q.with).await?;
    if other.dataset_id != run.dataset_id || other.series != run.series {
        let what = |r: &tsad_store::RunRecord| match &r.series {
            Some(s) => format!("dataset `{}`, series `{s}`", r.dataset_id),
            None => format!("dataset `{}`", r.dataset_id),
        };
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            format!(
                "with: run `{}` is on {}, this run on {}; compare runs on the same data",
                other.id,
                what(&other),
                what(&run)
            ),
        ));
    }
    let (a, b) = (state.result(&run.id).await?, state.result(&other.id).await?);
    let (spans_a, spans_b) = (spans(&a.events), spans(&b.events));
    let run_events_shared = overlapped(&spans_a, &spans_b);
    let other_shared = overlapped(&spans_b, &spans_a);
    let (other_events, _) = listing(&b.events, EventOrder::Time, 0);
    let other_events = other_events
        .as_array()
        .into_iter()
        .flatten()
        .zip(&other_shared)
        .map(|(e, &shared)| {
            let mut e = e.clone();
            if let Some(obj) = e.as_object_mut() {
                obj.insert("shared".into(), shared.into());
            }
            e
        })
        .collect();
    let differences = differences(&run, &other);
    let names = labels(&[run.clone(), other.clone()]);
    let side = |r: &tsad_store::RunRecord, label: &str, shared: &[bool]| ComparedRun {
        id: r.id.clone(),
        name: r.name.clone(),
        label: label.to_owned(),
        event_count: shared.len(),
        shared: shared.iter().filter(|&&s| s).count(),
    };
    Ok(Json(RunComparison {
        run: side(&run, &names[0], &run_events_shared),
        other: side(&other, &names[1], &other_shared),
        differences,
        run_events_shared,
        other_events,
    }))
}

#[cfg(test)]
mod tests {
    use super::overlapped;

    #[test]
    fn overlap_is_any_shared_time() {
        let a = [(0, 5), (10, 12), (20, 30), (40, 41)];
        let b = [(3, 4), (12, 25), (50, 60)];
        assert_eq!(overlapped(&a, &b), [true, true, true, false]);
        assert_eq!(overlapped(&b, &a), [true, true, false]);
        assert_eq!(overlapped(&a, &[]), [false; 4]);
        // One long span covering several.
        assert_eq!(
            overlapped(&[(5, 6), (8, 9), (200, 201)], &[(0, 100)]),
            [true, true, false]
        );
    }
}
