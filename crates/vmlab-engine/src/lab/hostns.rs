//! Coalesced hosts inside a host VM: once the VM is up, each of its hosts gets its network
//! namespace with its interfaces moved in under their spec names (over the VM's SSH, the
//! script the plan wrote). A namespace does not outlive its VM, so this runs after every
//! boot of a host VM, on the one boot path (deploy, start, restart, repair).

use std::process::Stdio;
use std::time::Duration;

use super::LabDir;
use super::state::LabState;
use crate::error::{EngineError, NodeFailure};
use crate::events::{Event, EventSink};
use crate::plan::coalesce;

/// The exit status of the setup script when the VM's image has no `ip netns`.
const NO_NETNS: i32 = 42;

/// Makes the namespaces of the hosts living in `vms` (those that are host VMs); each VM whose
/// namespaces could not be made is a failure.
pub async fn setup(lab: &LabDir, vms: &[String], events: &EventSink) -> Vec<NodeFailure> {
    let Ok(state) = LabState::load(lab) else {
        return Vec::new();
    };
    let mut failures = Vec::new();
    for vm in vms {
        let hosts: Vec<&coalesce::VirtualHost> =
            state.virtual_hosts.iter().filter(|h| &h.vm == vm).collect();
        if hosts.is_empty() {
            continue;
        }
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        match run(&state, vm, &coalesce::setup_script(&hosts)).await {
            Ok(()) => events.send(Event::Step(format!(
                "{vm}: hosts {} ready, each in its namespace",
                names.join(", ")
            ))),
            Err(reason) => {
                events.send(Event::NodeFailed {
                    node: vm.clone(),
                    reason: reason.clone(),
                    elapsed: Duration::ZERO,
                });
                let log = lab.node_paths(vm).console_log;
                failures.push(NodeFailure {
                    node: vm.clone(),
                    reason,
                    console_tail: Vec::new(),
                    console_log: log,
                });
            }
        }
    }
    failures
}

/// Runs the setup script on `vm`; `Err` says why it failed, and what to do.
async fn run(state: &LabState, vm: &str, script: &str) -> Result<(), String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot locate vmlab: {e}"))?;
    let cmd = state
        .ssh_command(vm, &[script.to_string()], &me)
        .map_err(|e: EngineError| e.to_string())?;
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| "making the hosts' namespaces took over 60 s".to_string())?
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    match out.status.code() {
        Some(0) => Ok(()),
        Some(NO_NETNS) => Err(
            "the host image has no `ip netns` (iproute2's ip), which coalesced hosts need: add \
             iproute2 to the image, or set vmlab.coalesce_hosts: false in topology.json to give \
             each host a VM of its own"
                .into(),
        ),
        code => Err(format!(
            "making the hosts' namespaces failed (exit {}): {}",
            code.map_or("by a signal".to_string(), |c| c.to_string()),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .trim()
        )),
    }
}
