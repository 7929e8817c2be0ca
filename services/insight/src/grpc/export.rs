//! Export: a report or a drill-down streamed as CSV or NDJSON. A report is
//! checked and computed by its own RPC's handler (one way to read each
//! figure), its field names prefixed with the report's (`drivers.limit`);
//! drill-downs stream their facts a page at a time, so an export of a year
//! of cases never sits in memory whole.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_proto::insight::v1::export_request::Report;
use earshot_server::{FieldViolations, ServiceContext, ServiceError, invalid};
use serde_json::Value as Json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::{
    ExportStream, authenticity, consistency, drivers, effort, fairness, goodwill, metrics, stories,
};
use crate::drill::{self, store};
use crate::export::{Format, ROWS_PER_CHUNK, columns, descriptor, encode, flatten};

/// Facts read per page of a drill-down export.
const PAGE: i64 = 1_000;

type Row = Vec<(String, Json)>;

/// A report's own field names, prefixed with the report's in the export request.
fn prefixed(e: ServiceError, report: &str) -> ServiceError {
    match e {
        ServiceError::InvalidArgument(violations) => {
            let mut v = FieldViolations::new();
            for f in violations.iter() {
                v.add(format!("{report}.{}", f.field), f.description.clone());
            }
            ServiceError::InvalidArgument(v)
        }
        other => other,
    }
}

fn rows<M: prost::Message + prost::Name>(items: &[M]) -> (Vec<String>, Vec<Row>) {
    let header = descriptor::<M>().map(|d| columns(&d)).unwrap_or_default();
    (header, items.iter().map(flatten).collect())
}

/// Rows with a leading column naming what they belong to.
fn labelled(label: &str, value: &str, mut rows: Vec<Row>) -> Vec<Row> {
    for row in &mut rows {
        row.insert(0, (label.to_owned(), Json::String(value.to_owned())));
    }
    rows
}

fn chunk(
    format: Format,
    header: Option<&[String]>,
    rows: &[Row],
) -> Result<pb::ExportChunk, Status> {
    let data = encode(format, header, rows).map_err(|e| ServiceError::Unexpected(Box::new(e)))?;
    Ok(pb::ExportChunk {
        data,
        rows: rows.len() as u64,
    })
}

/// A computed report, in chunks.
fn stream_rows(format: Format, header: Vec<String>, rows: Vec<Row>) -> ExportStream {
    let mut chunks = Vec::new();
    let mut first = true;
    for part in rows.chunks(ROWS_PER_CHUNK) {
        chunks.push(chunk(format, first.then_some(header.as_slice()), part));
        first = false;
    }
    if first {
        chunks.push(chunk(format, Some(&header), &[]));
    }
    Box::pin(tokio_stream::iter(chunks))
}

pub async fn start(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ExportRequest,
) -> Result<ExportStream, ServiceError> {
    let format = match pb::ExportFormat::try_from(req.format) {
        Ok(pb::ExportFormat::Csv) => Format::Csv,
        Ok(pb::ExportFormat::Ndjson) => Format::Ndjson,
        _ => return Err(invalid("format", "must be CSV or NDJSON")),
    };
    let Some(report) = req.report else {
        return Err(invalid("report", "is required: say what to export"));
    };
    // A report's own handler answers; its rows are one repeated field.
    macro_rules! report {
        ($handler:path, $req:expr, $name:literal, $field:ident) => {{
            let answer = $handler(ctx, caller, $req)
                .await
                .map_err(|e| prefixed(e, $name))?;
            rows(&answer.$field)
        }};
    }
    let (header, rows) = match report {
        Report::ServiceMetrics(r) => report!(metrics::get, r, "service_metrics", groups),
        Report::Drivers(r) => report!(drivers::list, r, "drivers", drivers),
        Report::Fairness(r) => {
            let answer = fairness::get(ctx, caller, r)
                .await
                .map_err(|e| prefixed(e, "fairness"))?;
            let mut header = vec!["comparison".to_owned()];
            header.extend(rows::<pb::FairnessMeasure>(&[]).0);
            let mut out = Vec::new();
            for c in &answer.comparisons {
                out.extend(labelled("comparison", &c.name, rows(&c.measures).1));
            }
            (header, out)
        }
        Report::Authenticity(r) => report!(authenticity::get, r, "authenticity", rows),
        Report::Effort(r) => report!(effort::get, r, "effort", rows),
        Report::Consistency(r) => report!(consistency::get, r, "consistency", findings),
        Report::Goodwill(r) => report!(goodwill::get, r, "goodwill", components),
        Report::SuccessStories(mut r) => {
            // Every page of the range.
            let mut all = Vec::new();
            loop {
                let page = stories::list(ctx, caller, r.clone())
                    .await
                    .map_err(|e| prefixed(e, "success_stories"))?;
                all.extend(page.stories);
                if page.next_page_token.is_empty() {
                    break;
                }
                r.page_token = page.next_page_token;
            }
            rows(&all)
        }
        Report::Cases(filter) => {
            let filter = drill::check_cases(Some(&filter), "cases")?;
            return Ok(stream_cases(ctx, caller, format, filter));
        }
        Report::Mentions(filter) => {
            let filter = drill::check_mentions(Some(&filter), "mentions")?;
            return Ok(stream_mentions(ctx, caller, format, filter));
        }
    };
    Ok(stream_rows(format, header, rows))
}

/// Pages through a drill-down, sending each page as a chunk; stops when the
/// caller goes away.
macro_rules! paged {
    ($ctx:expr, $caller:expr, $format:expr, $filter:expr, $read:path, $to_pb:path, $pb:ty) => {{
        let (tx, rx) = mpsc::channel::<Result<pb::ExportChunk, Status>>(2);
        let pool = $ctx.pool.clone();
        let tenant = $caller.tenant_id.clone();
        let format = $format;
        let filter = $filter;
        tokio::spawn(async move {
            let header = descriptor::<$pb>().map(|d| columns(&d)).unwrap_or_default();
            let mut after = (None, None);
            let mut first = true;
            loop {
                let page = match $read(&pool, &tenant, &filter, after, PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(ServiceError::from(e).into())).await;
                        return;
                    }
                };
                let rows: Vec<Row> = page.iter().map(|f| flatten(&$to_pb(f))).collect();
                let header = first.then_some(header.as_slice());
                if tx.send(chunk(format, header, &rows)).await.is_err() {
                    return;
                }
                first = false;
                match page.last() {
                    Some(last) if page.len() as i64 == PAGE => {
                        let c = earshot_server::Keyed::cursor(last);
                        after = (Some(c.at), Some(c.id));
                    }
                    _ => return,
                }
            }
        });
        Box::pin(ReceiverStream::new(rx)) as ExportStream
    }};
}

fn stream_cases(
    ctx: &ServiceContext,
    caller: &Caller,
    format: Format,
    filter: drill::Cases,
) -> ExportStream {
    paged!(
        ctx,
        caller,
        format,
        filter,
        store::cases,
        drill::case_fact,
        pb::CaseFact
    )
}

fn stream_mentions(
    ctx: &ServiceContext,
    caller: &Caller,
    format: Format,
    filter: drill::Mentions,
) -> ExportStream {
    paged!(
        ctx,
        caller,
        format,
        filter,
        store::mentions,
        drill::mention_fact,
        pb::MentionFact
    )
}
