//! SCAFFOLD: replaced by the export.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

use super::ExportStream;

pub async fn start(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::ExportRequest,
) -> Result<ExportStream, ServiceError> {
    Err(ServiceError::FailedPrecondition("export is not built yet".into()))
}
