//! Triage: the user's marks on a run's events and on anomalies it missed, kept with the dataset
//! (by time), and how the run scores against them.

use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tsad_store::{MarkRecord, RunRecord};
use utoipa::ToSchema;

/// The verdicts a mark may carry.
const VERDICTS: [&str; 4] = ["confirmed", "false_alarm", "unsure", "missed"];

/// Longest comment kept.
const MAX_COMMENT_CHARS: usize = 2000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/runs/{id}/marks",
            get(run_marks_get).post(run_marks_create),
        )
        .route(
            "/api/v1/marks/{id}",
            patch(marks_update).delete(marks_delete),
        )
}

/// A mark as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Mark {
    /// Unique id (`mark_...`).
    pub(crate) id: String,
    /// The dataset it judges.
    pub(crate) dataset_id: String,
    /// The series of a many-series run it judges.
    pub(crate) series: Option<String>,
    /// First timestamp it covers (ms, or row number), inclusive.
    pub(crate) start_time: i64,
    /// Last timestamp it covers, inclusive.
    pub(crate) end_time: i64,
    /// `confirmed`, `false_alarm`, `unsure` or `missed`.
    pub(crate) verdict: String,
    /// The user's note.
    pub(crate) comment: String,
    /// The run it was made on (null once deleted).
    pub(crate) run_id: Option<String>,
    /// RFC 3339.
    pub(crate) created_at: String,
    /// RFC 3339.
    pub(crate) updated_at: String,
}

impl From<MarkRecord> for Mark {
    fn from(m: MarkRecord) -> Self {
        Mark {
            id: m.id,
            dataset_id: m.dataset_id,
            series: m.series,
            start_time: m.start_time,
            end_time: m.end_time,
            verdict: m.verdict,
            comment: m.comment,
            run_id: m.run_id,
            created_at: crate::api::rfc3339(m.created_at),
            updated_at: crate::api::rfc3339(m.updated_at),
        }
    }
}

/// `POST /api/v1/runs/{id}/marks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MarkCreate {
    /// First timestamp (ms, or row number on an index axis), inclusive: an event's
    /// `start_time`, or the start of a stretch the run missed.
    pub(crate) start_time: i64,
    /// Last timestamp, inclusive.
    pub(crate) end_time: i64,
    /// `confirmed`, `false_alarm`, `unsure` or `missed`.
    pub(crate) verdict: String,
    /// A note (optional).
    #[serde(default)]
    pub(crate) comment: String,
}

/// `PATCH /api/v1/marks/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MarkUpdate {
    /// A new verdict.
    pub(crate) verdict: Option<String>,
    /// A new note.
    pub(crate) comment: Option<String>,
}

/// How a run's events compare with the user's marks (event level, like SMAP's rule): an event
/// overlapping a `confirmed` or `missed` mark is a true positive, one overlapping only a
/// `false_alarm` mark a false positive; other events are not judged; a `confirmed` or `missed`
/// mark overlapped by any event is found. `unsure` marks count nowhere.
#[derive(Debug, Default, Serialize, ToSchema, PartialEq)]
pub(crate) struct MarkReport {
    /// The run's events.
    pub(crate) events: usize,
    /// Events the marks judge (true plus false positives).
    pub(crate) judged: usize,
    /// Events on a confirmed or missed mark.
    pub(crate) true_positives: usize,
    /// Events on a false-alarm mark only.
    pub(crate) false_positives: usize,
    /// Confirmed and missed marks: the anomalies the user knows of in this run's span.
    pub(crate) marked_anomalies: usize,
    /// Of those, the ones an event overlaps.
    pub(crate) found: usize,
    /// true_positives / judged; null when nothing is judged.
    pub(crate) precision: Option<f64>,
    /// found / marked_anomalies; null without marked anomalies.
    pub(crate) recall: Option<f64>,
}

/// `GET /api/v1/runs/{id}/marks`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunMarks {
    /// The marks on the run's dataset (and series) inside the run's time span, in time order:
    /// made on this run or on any earlier one.
    pub(crate) marks: Vec<Mark>,
    /// The run's events against them.
    pub(crate) report: MarkReport,
}

fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The report of events (first and last timestamps) against marks.
pub(crate) fn report(events: &[(i64, i64)], marks: &[MarkRecord]) -> MarkReport {
    let positive = |m: &&MarkRecord| matches!(m.verdict.as_str(), "confirmed" | "missed");
    let (mut tp, mut fp) = (0, 0);
    for &e in events {
        let on = |m: &&MarkRecord| overlaps(e, (m.start_time, m.end_time));
        if marks.iter().filter(positive).any(|m| on(&m)) {
            tp += 1;
        } else if marks.iter().any(|m| m.verdict == "false_alarm" && on(&m)) {
            fp += 1;
        }
    }
    let anomalies: Vec<&MarkRecord> = marks.iter().filter(positive).collect();
    let found = anomalies
        .iter()
        .filter(|m| {
            events
                .iter()
                .any(|&e| overlaps(e, (m.start_time, m.end_time)))
        })
        .count();
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    MarkReport {
        events: events.len(),
        judged: tp + fp,
        true_positives: tp,
        false_positives: fp,
        marked_anomalies: anomalies.len(),
        found,
        precision: ratio(tp, tp + fp),
        recall: ratio(found, anomalies.len()),
    }
}

/// The run's marks: its dataset's, on its series, inside its span.
pub(crate) fn of_run(run: &RunRecord, marks: Vec<MarkRecord>) -> Vec<MarkRecord> {
    let span = run.summary.as_ref().and_then(|s| {
        Some((
            s.get("start").and_then(Value::as_i64)?,
            s.get("end").and_then(Value::as_i64)?,
        ))
    });
    marks
        .into_iter()
        .filter(|m| m.series == run.series)
        .filter(|m| span.is_none_or(|s| overlaps(s, (m.start_time, m.end_time))))
        .collect()
}

fn check_verdict(verdict: &str) -> Result<(), ApiError> {
    if VERDICTS.contains(&verdict) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_parameter",
            format!("verdict: `{verdict}` is not one of {}", VERDICTS.join(", ")),
        ))
    }
}

fn check_comment(comment: &str) -> Result<(), ApiError> {
    let n = comment.chars().count();
    if n > MAX_COMMENT_CHARS {
        return Err(ApiError::unprocessable(
            "limit_exceeded",
            format!("comment: {n} characters, more than the limit of {MAX_COMMENT_CHARS}"),
        ));
    }
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The marks on a run (its dataset's, made on any run) and how its events compare with them.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}/marks", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 200, description = "the marks and the report", body = RunMarks),
        (status = 404, description = "unknown run", body = ErrorBody),
        (status = 409, description = "the run has not succeeded, or covers many series", body = ErrorBody),
    )
)]
pub(crate) async fn run_marks_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunMarks>, ApiError> {
    let run = crate::routes::runs::succeeded_run(&state, &id).await?;
    let result = state.result(&id).await?;
    let ds = run.dataset_id.clone();
    let all = state.blocking(move |s| Ok(s.marks(&ds)?)).await?;
    let marks = of_run(&run, all);
    let report = report(&crate::events::spans(&result.events), &marks);
    Ok(Json(RunMarks {
        marks: marks.into_iter().map(Mark::from).collect(),
        report,
    }))
}

/// Mark an event (confirmed, false alarm, unsure) or a stretch the run missed.
#[utoipa::path(
    post, path = "/api/v1/runs/{id}/marks", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    request_body = MarkCreate,
    responses(
        (status = 201, description = "the mark", body = Mark),
        (status = 404, description = "unknown run", body = ErrorBody),
        (status = 409, description = "the run has not succeeded, or covers many series", body = ErrorBody),
        (status = 422, description = "an unknown verdict, an end before the start, a comment above 2,000 characters", body = ErrorBody),
    )
)]
pub(crate) async fn run_marks_create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MarkCreate>,
) -> Result<(StatusCode, Json<Mark>), ApiError> {
    check_verdict(&req.verdict)?;
    check_comment(&req.comment)?;
    if req.end_time < req.start_time {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            format!(
                "end_time {} is before start_time {}; give the stretch's first and last timestamps",
                req.end_time, req.start_time
            ),
        ));
    }
    let run = crate::routes::runs::succeeded_run(&state, &id).await?;
    let now = now_ms();
    let mark = MarkRecord {
        id: tsad_store::new_id("mark"),
        dataset_id: run.dataset_id.clone(),
        series: run.series.clone(),
        start_time: req.start_time,
        end_time: req.end_time,
        verdict: req.verdict,
        comment: req.comment.trim().to_owned(),
        run_id: Some(run.id.clone()),
        created_at: now,
        updated_at: now,
    };
    let stored = mark.clone();
    state.blocking(move |s| Ok(s.create_mark(&stored)?)).await?;
    Ok((StatusCode::CREATED, Json(Mark::from(mark))))
}

/// Change a mark's verdict or note.
#[utoipa::path(
    patch, path = "/api/v1/marks/{id}", tag = "runs",
    params(("id" = String, Path, description = "mark id")),
    request_body = MarkUpdate,
    responses(
        (status = 200, description = "the mark", body = Mark),
        (status = 404, description = "unknown mark", body = ErrorBody),
        (status = 422, description = "an unknown verdict or a comment above 2,000 characters", body = ErrorBody),
    )
)]
pub(crate) async fn marks_update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MarkUpdate>,
) -> Result<Json<Mark>, ApiError> {
    if let Some(v) = &req.verdict {
        check_verdict(v)?;
    }
    if let Some(c) = &req.comment {
        check_comment(c)?;
    }
    let mark = state
        .blocking(move |s| {
            let mut m = s.mark(&id)?;
            if let Some(v) = req.verdict {
                m.verdict = v;
            }
            if let Some(c) = req.comment {
                m.comment = c.trim().to_owned();
            }
            m.updated_at = now_ms();
            s.update_mark(&m)?;
            Ok(m)
        })
        .await?;
    Ok(Json(Mark::from(mark)))
}

/// Delete a mark.
#[utoipa::path(
    delete, path = "/api/v1/marks/{id}", tag = "runs",
    params(("id" = String, Path, description = "mark id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "unknown mark", body = ErrorBody),
    )
)]
pub(crate) async fn marks_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.blocking(move |s| Ok(s.delete_mark(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(start: i64, end: i64, verdict: &str) -> MarkRecord {
        MarkRecord {
            id: format!("m{start}"),
            dataset_id: "ds".into(),
            series: None,
            start_time: start,
            end_time: end,
            verdict: verdict.into(),
            comment: String::new(),
            run_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_report_counts_events_against_marks() {
        let events = [(10, 12), (50, 50), (80, 85), (200, 210)];
        let marks = [
            mark(10, 12, "confirmed"),
            mark(50, 50, "false_alarm"),
            mark(82, 82, "unsure"),
            mark(120, 130, "missed"),
            mark(205, 300, "missed"),
        ];
        let r = report(&events, &marks);
        assert_eq!(
            r,
            MarkReport {
                events: 4,
                judged: 3,
                true_positives: 2,
                false_positives: 1,
                marked_anomalies: 3,
                found: 2,
                precision: Some(2.0 / 3.0),
                recall: Some(2.0 / 3.0),
            }
        );
        let none = report(&events, &[]);
        assert_eq!((none.precision, none.recall, none.judged), (None, None, 0));
    }
}
