//! What the file deposits share: the request body spooled to disk as it arrives, so a large file costs
//! disk, not memory.

use axum::body::Body;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use super::error::ApiError;

/// Write the body to a temporary file (deleted when dropped) as it arrives.
pub async fn spool(body: Body) -> Result<tempfile::NamedTempFile, ApiError> {
    let failed = |e: std::io::Error| ApiError::Internal(format!("cannot spool the upload: {e}"));
    let spool = tempfile::NamedTempFile::new().map_err(failed)?;
    let mut file = tokio::fs::File::create(spool.path()).await.map_err(failed)?;
    let mut body = body;
    let mut size = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::TooLarge(format!(
                "le fichier n'a pas pu être reçu entièrement (trop volumineux ?) : {e}"
            ))
        })?;
        if let Ok(data) = frame.into_data() {
            size += data.len();
            file.write_all(&data).await.map_err(failed)?;
        }
    }
    file.flush().await.map_err(failed)?;
    if size == 0 {
        return Err(ApiError::bad_request(
            "le corps de la requête doit être le fichier (CSV ou XLSX), il est vide",
        ));
    }
    Ok(spool)
}
