//! `vmlab serve`: the HTTP API's options read (the token file, hosts and origins allowed),
//! then handed to `crate::serve::run` until cancelled; `vmlab shard run` serves a shard's API
//! the same way.

use super::args;
use super::say::say;
use crate::engine::api::{self, EngineError};

/// `vmlab serve`: the token file (made on first start), then the server until Ctrl-C.
pub(super) async fn serve(
    a: args::ServeArgs,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<i32, EngineError> {
    let args::ServeArgs {
        listen,
        networks_base,
        platforms_base,
        token_file,
        allow_host,
        allow_origin,
        accel,
    } = a;
    if platforms_base.is_some() {
        api::set_platforms_registry(platforms_base);
    }
    let token_given = token_file.is_some();
    let (token_file, text) = match token_file {
        Some(f) => {
            let text = api::read_private(&f)?;
            (f, text)
        }
        None => api::serve_token()?,
    };
    let name = token_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token".into());
    let tokens =
        crate::serve::parse_tokens(&text, &name).map_err(|why| EngineError::Usage {
            what: format!("{}: {why}", token_file.display()),
            fix: "write one token a line (at least 16 characters, for example                           `openssl rand -hex 32`), alone or after a name"
                .into(),
        })?;
    let opts = crate::serve::ServeOptions {
        listen,
        networks_base,
        tokens,
        token_file: token_file.clone(),
        token_given,
        allow_hosts: allow_host,
        allow_origins: allow_origin,
        accel: accel.wanted(),
    };
    crate::serve::run(opts, cancel.clone(), |at| {
        say(&format!(
            "vmlab serve: listening on http://{at} (/newtlab/v1, /v1; the API described \
             at /v1/openapi.json); every request carries the token in {} as \
             Authorization: Bearer; Ctrl-C stops",
            token_file.display()
        ))
    })
    .await
    .map(|()| 0)
}
