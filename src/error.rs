//! The one place errors become HTTP responses: SCIM error JSON on /scim,
//! plain JSON elsewhere. Internal errors are logged with the request id and
//! answered with an opaque message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::directory::DirectoryError;
use crate::scim::SCIM_MEDIA_TYPE;
use crate::scim::error::ScimError;
use crate::store::StoreError;

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type(SCIM_MEDIA_TYPE)
            .body(self.body().to_string())
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        DirectoryError::from(e).into()
    }
}

impl From<DirectoryError> for ScimError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound(m) => ScimError::new(404, m),
            DirectoryError::Conflict(m) => ScimError::typed(409, "uniqueness", m),
            DirectoryError::Invalid(m) => ScimError::typed(400, "invalidValue", m),
            other if crate::store::write_failure().is_some() => {
                tracing::error!(error = %other, "write refused: the store cannot write");
                storage_refusal()
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ScimError::new(500, "internal error; see the server log")
            }
        }
    }
}

/// The answer to a write while the store cannot write: 507 when the disk is
/// full, else 503. Reads keep working; the server restarts itself to resume
/// writes once the disk takes writes again (`http::storage_watch`).
pub fn storage_refusal() -> ScimError {
    match crate::store::write_failure() {
        Some(crate::store::WriteFailure::DiskFull) => ScimError::new(
            507,
            "the data disk is full: this change was not stored; free space on it and Roster resumes writes by itself",
        ),
        _ => ScimError::new(
            503,
            "the store cannot write to its disk: this change was not stored; see the server log",
        ),
    }
}
