//! Checks for spec values that reach a command line or the environment of a program vmlab
//! runs. Spec directories are shared through git, so a checked-out spec must never be able to
//! add an option or run code: every such value is checked here, against what it is meant to
//! be, before a plan is built. Each check returns why a value is refused.

/// A QEMU NIC model (`-device <model>,...`): a device name, never an option or a list.
pub fn nic_model(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if !s.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("must start with a letter or digit".into());
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(c) => Err(format!("holds {c:?}; a NIC model is one device name")),
        None => Ok(()),
    }
}

/// CPU feature flags appended to the `-cpu` model: a comma-separated list of `+flag`,
/// `-flag` or `flag=value` items (the model itself is vmlab's choice).
pub fn cpu_features(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    let word = |w: &str| {
        !w.is_empty()
            && w.as_bytes()[0].is_ascii_alphanumeric()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    for item in s.split(',') {
        let ok = match item.as_bytes().first() {
            Some(b'+') | Some(b'-') => word(&item[1..]),
            _ => match item.split_once('=') {
                Some((k, v)) => word(k) && word(v),
                None => false,
            },
        };
        if !ok {
            return Err(format!(
                "item {item:?} is not +flag, -flag or flag=value (letters, digits, '.', '_', '-')"
            ));
        }
    }
    Ok(())
}

/// A login name for SSH (`ssh -l <user>`): a user name, never an option.
pub fn ssh_user(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() > 64 {
        return Err("is longer than 64 characters".into());
    }
    if !(s.as_bytes()[0].is_ascii_alphanumeric() || s.starts_with('_')) {
        return Err("must start with a letter, digit or '_'".into());
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(c) => Err(format!(
            "holds {c:?}; a user name has letters, digits, '.', '_' and '-' only"
        )),
        None => Ok(()),
    }
}

/// A password handed to ssh through its askpass helper: one line, no NUL.
pub fn password(s: &str) -> Result<(), String> {
    if s.contains(['\0', '\n', '\r']) {
        return Err("holds a NUL or line break, which ssh cannot be given".into());
    }
    Ok(())
}

/// A file path (a disk image): no control characters.
pub fn path(s: &str) -> Result<(), String> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!("holds the control character {c:?}")),
        None => Ok(()),
    }
}

/// QEMU options a spec may add (`vm_qemu_args`), and whether each takes a value. Anything
/// else is refused: QEMU options can run programs (`-incoming exec:`, `-netdev ...,script=`),
/// load code (`-plugin`), read or write any file (`romfile=`, `-object memory-backend-file`),
/// open control sockets (`-monitor`, `-qmp`) or take over what vmlab relies on (`-pidfile`,
/// `-daemonize`, `-name`). These only tune the emulated machine.
pub const QEMU_OPTIONS: &[(&str, bool)] = &[
    ("-global", true),
    ("-device", true),
    ("-rtc", true),
    ("-boot", true),
    ("-smbios", true),
    ("-overcommit", true),
    ("-accel", true),
    ("-msg", true),
    ("-no-reboot", false),
    ("-no-shutdown", false),
    ("-no-hpet", false),
    ("-enable-sync-profile", false),
];

/// Properties no added option may set: they name files, programs or vmlab's own devices.
const FORBIDDEN_PROPS: &[&str] = &[
    "file",
    "filename",
    "path",
    "romfile",
    "script",
    "downscript",
    "helper",
    "chardev",
    "netdev",
    "drive",
    "mem-path",
    "logfile",
    "fd",
    "addr",
    "bus",
];

/// An option value: comma-separated `key=value` or `word` items of letters, digits and
/// `.`, `_`, `-`, `:`, `+` (no paths, no spaces, no option of its own).
fn option_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("is empty".into());
    }
    if v.starts_with('-') {
        return Err("starts with '-' where a value belongs".into());
    }
    let word = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '+'))
    };
    for item in v.split(',') {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (item, None),
        };
        if !word(key) || value.is_some_and(|v| !word(v)) {
            return Err(format!(
                "item {item:?} is not key=value or a word of letters, digits, '.', '_', '-', ':', \
                 '+' (no paths)"
            ));
        }
        let prop = key.rsplit('.').next().unwrap_or(key);
        if value.is_some() && FORBIDDEN_PROPS.contains(&prop) {
            return Err(format!(
                "sets {key:?}, which names a file, a program or one of vmlab's own devices"
            ));
        }
    }
    Ok(())
}

/// Checks `vm_qemu_args`: every option allowed, every value safe. `Err` is (the index of the
/// item at fault, why).
pub fn qemu_args(args: &[String]) -> Result<(), (usize, String)> {
    let mut i = 0;
    while i < args.len() {
        let opt = args[i].as_str();
        let Some((_, takes)) = QEMU_OPTIONS.iter().find(|(o, _)| *o == opt) else {
            return Err((
                i,
                format!(
                    "{opt:?} is not an option vmlab lets a spec add (allowed: {})",
                    QEMU_OPTIONS
                        .iter()
                        .map(|(o, _)| *o)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ));
        };
        if *takes {
            let Some(v) = args.get(i + 1) else {
                return Err((i, format!("{opt} needs a value after it")));
            };
            option_value(v).map_err(|why| (i + 1, format!("the value of {opt} {why}")))?;
            i += 2;
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nic_models() {
        for ok in ["e1000", "virtio-net-pci", "vmxnet3", "ne2k_pci"] {
            assert!(nic_model(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-device",
            "e1000,romfile=/etc/shadow",
            "e1000 x",
            "e1000\n",
        ] {
            assert!(nic_model(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cpu_feature_lists() {
        for ok in [
            "+sse4.2",
            "+sse4.2,-avx",
            "+ssse3,+sse4.1,+sse4.2",
            "pmu=off",
        ] {
            assert!(cpu_features(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "+", "sse4.2", "+sse4.2,", "+a b", "x=-y", "=x", "+x,,+y",
        ] {
            assert!(cpu_features(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_names_are_never_options() {
        for ok in ["admin", "cisco", "_svc", "a.b-c"] {
            assert!(ssh_user(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-oProxyCommand=touch pwned",
            "-lroot",
            "a@b",
            "a b",
            "root\n",
        ] {
            assert!(ssh_user(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_and_paths() {
        assert!(password("YourPaSsWoRd $!&").is_ok());
        assert!(password("a\nb").is_err());
        assert!(password("a\0b").is_err());
        assert!(path("/x/y z.qcow2").is_ok());
        assert!(path("/x\n-y").is_err());
    }

    #[test]
    fn qemu_args_are_allowlisted() {
        let ok = |a: &[&str]| qemu_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(ok(&["-rtc", "base=utc,clock=vm"]).is_ok());
        assert!(ok(&["-global", "virtio-net-pci.mq=on", "-no-hpet"]).is_ok());
        assert!(ok(&["-device", "i6300esb", "-accel", "tcg,tb-size=256"]).is_ok());
        for (bad, at) in [
            (vec!["-incoming", "exec:sh -c id"], 0),
            (vec!["-netdev", "tap,id=x,script=/tmp/evil"], 0),
            (vec!["-device", "e1000,romfile=/etc/shadow"], 1),
            (vec!["-device", "virtio-net-pci,netdev=mgmt"], 1),
            (vec!["-rtc", "base=utc", "-pidfile", "/tmp/x"], 2),
            (vec!["-rtc"], 0),
            (vec!["-rtc", "-daemonize"], 1),
            (vec!["-global", "x.y=/etc/passwd"], 1),
            (vec!["-plugin", "file=/tmp/x.so"], 0),
        ] {
            let r = ok(&bad);
            assert_eq!(r.as_ref().map_err(|e| e.0), Err(at), "{bad:?}: {r:?}");
        }
    }
}
