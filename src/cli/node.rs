//! The commands about one node: `start`, `stop`, `restart`, `console` and `ssh`.

use super::args::{HostArgs, LabArgs, NodesArgs};
use super::say::{say, with_progress};
use crate::engine::api::{ConsoleAccess, EngineError, LabHandle, NodeOp};

/// `stop`, `start` and `restart` of the nodes named, or of every node with `--all`, with boot
/// progress on stderr.
pub async fn op(
    lab: &LabArgs,
    host: &HostArgs,
    which: &NodesArgs,
    op: NodeOp,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    lab.check_host(host.host.as_deref())?;
    let named = (!which.all).then_some(which.nodes.as_slice());
    let done = with_progress(|sink| {
        let lab = lab.clone();
        async move { lab.nodes(named, op, &sink, cancel).await }
    })
    .await?;
    if which.all && done.is_empty() {
        say(&format!(
            "lab {}: no node to {} here",
            lab.name(),
            op.verb()
        ));
    }
    Ok(0)
}

/// `vmlab ssh`: ssh replaces vmlab, so the terminal, signals and the exit status all pass
/// straight through.
pub fn ssh(lab: &LabArgs, node: &str, command: &[String]) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    let err = lab.ssh(node, command)?.exec();
    Err(EngineError::io(
        "cannot run ssh (install openssh-client)",
        err,
    ))
}

/// `vmlab console`: attached here, or through the node's host.
pub async fn console(lab: &LabArgs, node: &str) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    match lab.console(node).await? {
        ConsoleAccess::Remote(cmd) => {
            // Its console stays on its host: reach it through that host.
            let err = cmd.exec();
            Err(EngineError::io(
                "cannot run ssh (install openssh-client)",
                err,
            ))
        }
        ConsoleAccess::Local(c) => {
            crate::term::console::attach(c, node)
                .await
                .map_err(|e| EngineError::io("console", e))?;
            Ok(0)
        }
    }
}
