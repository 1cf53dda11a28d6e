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
}
