//! `vmlab image list|import|rm`.

use super::args::ImageAction;
use super::say::{say, say_json, with_printer};
use super::{deploy, output};
use crate::engine::api::{self, EngineError};

pub async fn run(action: ImageAction) -> Result<i32, EngineError> {
    match action {
        ImageAction::List { out } => {
            let rows = api::images().await?;
            if out.json() {
                say_json(&rows, "images")?;
            } else {
                say(&output::images_text(&rows));
            }
            Ok(0)
        }
        ImageAction::Import { file, name } => {
            // Import progress is a bar, as a deploy's disks are.
            let row = with_printer(
                |rx| deploy::print_progress(rx, Vec::new()),
                |sink| async move { api::import_image(&file, name.as_deref(), &sink).await },
            )
            .await?;
            say(&format!(
                "imported {} ({}, {} on disk)",
                row.path.display(),
                row.format.unwrap_or_default(),
                output::human_bytes(row.size)
            ));
            Ok(0)
        }
        ImageAction::Rm { name } => {
            let path = api::remove_image(&name)?;
            say(&format!("removed {}", path.display()));
            Ok(0)
        }
    }
}
