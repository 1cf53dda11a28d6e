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

/// The names vmlab itself gives every guest through fw_cfg (`opt/vmlab/<name>`).
pub const BUILT_IN_GUEST_FILES: &[&str] = &["hostname", "interfaces"];

/// A `vm_files` name: what the guest finds as `opt/vmlab/<name>` in fw_cfg. Letters, digits,
/// `.`, `_`, `-`, not starting with `.`, at most 40 bytes (fw_cfg names are short), and not one
/// of the names vmlab gives itself.
pub fn guest_file_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 40 {
        return Err("must be 1 to 40 characters".into());
    }
    if s.starts_with('.') {
        return Err("must not start with '.'".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "holds {c:?}; a guest file name is letters, digits, '.', '_' and '-'"
        ));
    }
    if BUILT_IN_GUEST_FILES.contains(&s) {
        return Err(format!("{s:?} is a name vmlab gives every guest itself"));
    }
    Ok(())
}

/// A `vm_files` source: a relative path inside the spec directory (no `..`, not absolute, no
/// control characters). Whether it exists, is a plain file and stays inside the directory
/// after symlinks is checked when the lab is deployed.
pub fn spec_relative_path(s: &str) -> Result<(), String> {
    path(s)?;
    let p = std::path::Path::new(s);
    if s.is_empty() || p.is_absolute() || s.starts_with('~') {
        return Err("must be a path relative to the spec directory".into());
    }
    if p.components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err("must stay inside the spec directory (no '..' or '.')".into());
    }
    Ok(())
}

/// Devices a spec may add with `-device` or tune with `-global`: NIC models, watchdogs, a
/// random-number source, a balloon and a panic device — what NOS images ask for. Host devices
/// (`vfio-pci`, `usb-host`), anything that takes a file, a chardev or a netdev, and vmlab's own
/// disk and NIC wiring are not among them.
pub const QEMU_DEVICES: &[&str] = &[
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "igb",
    "virtio-net-pci",
    "vmxnet3",
    "rtl8139",
    "i82550",
    "i82551",
    "i82557b",
    "i82558b",
    "i82559er",
    "ne2k_pci",
    "pcnet",
    "virtio-blk-pci",
    "i6300esb",
    "ib700",
    "virtio-rng-pci",
    "virtio-balloon-pci",
    "pvpanic",
    "kvm-pit",
    "ICH9-LPC",
    "PIIX4_PM",
];

/// Properties of those devices a spec may set: queue sizes and counts, offloads, MTU, link
/// speed, MSI vectors, watchdog and balloon knobs. Nothing that names a file, a socket, a
/// backend, a bus or a PCI address.
pub const QEMU_DEVICE_PROPS: &[&str] = &[
    "mq",
    "vectors",
    "rx_queue_size",
    "tx_queue_size",
    "host_mtu",
    "speed",
    "duplex",
    "csum",
    "gso",
    "guest_csum",
    "guest_tso4",
    "guest_tso6",
    "guest_ecn",
    "guest_ufo",
    "host_tso4",
    "host_tso6",
    "host_ecn",
    "host_ufo",
    "mrg_rxbuf",
    "event_idx",
    "indirect_desc",
    "x-txburst",
    "autonegotiation",
    "mitigation",
    "num-queues",
    "queue-size",
    "seg-max-adjust",
    "discard",
    "write-cache",
    "ioeventfd",
    "disable-legacy",
    "disable-modern",
    "lost_tick_policy",
    "deflate-on-oom",
    "free-page-reporting",
    "max-bytes",
    "period",
    "disable_s3",
    "disable_s4",
    "noreboot",
];

/// One option a spec may add: its name, and for an option with a value, the bare words its
/// first item may be (a device, a model) and the keys its `key=value` items may use.
struct QemuOption {
    name: &'static str,
    takes_value: bool,
    first: &'static [&'static str],
    keys: &'static [&'static str],
}

const fn flag(name: &'static str) -> QemuOption {
    QemuOption {
        name,
        takes_value: false,
        first: &[],
        keys: &[],
    }
}

/// QEMU options a spec may add (`vm_qemu_args`), each with the closed list of what its value
/// may say. Anything else is refused: QEMU options can run programs (`-incoming exec:`,
/// `-netdev ...,script=`), load code (`-plugin`), read or write any file (`romfile=`,
/// `-object memory-backend-file`, `-smbios file=`, `-boot splash=`), pass host devices to the
/// guest (`-device vfio-pci`, `usb-host`), open control sockets (`-monitor`, `-qmp`) or take
/// over what vmlab relies on (`-pidfile`, `-daemonize`, `-name`). These only tune the
/// emulated machine. (`-global` is checked apart: it has two forms.)
const QEMU_OPTIONS: &[QemuOption] = &[
    QemuOption {
        name: "-device",
        takes_value: true,
        first: QEMU_DEVICES,
        keys: QEMU_DEVICE_PROPS,
    },
    QemuOption {
        name: "-global",
        takes_value: true,
        first: &[],
        keys: &[],
    },
    QemuOption {
        name: "-machine",
        takes_value: true,
        first: &[],
        keys: &[
            "smm",
            "vmport",
            "hpet",
            "acpi",
            "kernel-irqchip",
            "kernel_irqchip",
            "mem-merge",
            "dump-guest-core",
            "sata",
            "smbus",
            "pit",
        ],
    },
    QemuOption {
        name: "-rtc",
        takes_value: true,
        first: &[],
        keys: &["base", "clock", "driftfix"],
    },
    QemuOption {
        name: "-boot",
        takes_value: true,
        first: &[],
        keys: &[
            "order",
            "once",
            "menu",
            "strict",
            "reboot-timeout",
            "splash-time",
        ],
    },
    QemuOption {
        name: "-smbios",
        takes_value: true,
        first: &[],
        keys: &[
            "type",
            "vendor",
            "version",
            "date",
            "release",
            "manufacturer",
            "product",
            "serial",
            "uuid",
            "sku",
            "family",
            "asset",
            "location",
            "part",
            "speed",
            "max-speed",
            "current-speed",
            "processor-id",
        ],
    },
    QemuOption {
        name: "-overcommit",
        takes_value: true,
        first: &[],
        keys: &["mem-lock", "cpu-pm"],
    },
    QemuOption {
        name: "-accel",
        takes_value: true,
        first: &["tcg", "kvm"],
        keys: &["tb-size", "thread", "split-wx", "kernel-irqchip"],
    },
    QemuOption {
        name: "-msg",
        takes_value: true,
        first: &[],
        keys: &["timestamp", "guest-name"],
    },
    flag("-no-reboot"),
    flag("-no-shutdown"),
    flag("-no-hpet"),
    flag("-enable-sync-profile"),
];

/// The names of the options a spec may add, for messages and README.
pub fn qemu_option_names() -> Vec<&'static str> {
    QEMU_OPTIONS.iter().map(|o| o.name).collect()
}

/// A word of an option value: letters, digits and `.`, `_`, `-`, `:`, `+` (no paths, no
/// spaces, no option of its own).
fn value_word(w: &str) -> bool {
    !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '+'))
}

/// The `key=value` items of an option value, each key and value a word, the first item
/// perhaps a bare word. QEMU reads `,,` as a literal comma, which no allowed value needs, so
/// an empty item is refused as well.
fn option_items(v: &str) -> Result<Vec<(&str, Option<&str>)>, String> {
    if v.is_empty() {
        return Err("is empty".into());
    }
    if v.starts_with('-') {
        return Err("starts with '-' where a value belongs".into());
    }
    v.split(',')
        .map(|item| {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            if !value_word(key) || value.is_some_and(|v| !value_word(v)) {
                return Err(format!(
                    "item {item:?} is not key=value or a word of letters, digits, '.', '_', \
                     '-', ':', '+' (no paths)"
                ));
            }
            Ok((key, value))
        })
        .collect()
}

/// A device and property pair of `-global`, both from the closed lists.
fn global_pair(driver: &str, prop: &str) -> Result<(), String> {
    if !QEMU_DEVICES.contains(&driver) {
        return Err(format!(
            "sets a property of {driver:?}, which is not a device a spec may tune (allowed: {})",
            QEMU_DEVICES.join(" ")
        ));
    }
    if !QEMU_DEVICE_PROPS.contains(&prop) {
        return Err(format!(
            "sets {prop:?}, which is not a property a spec may set (allowed: {})",
            QEMU_DEVICE_PROPS.join(" ")
        ));
    }
    Ok(())
}

/// `-global` in both of QEMU's forms: `driver.property=value`, and
/// `driver=X,property=P,value=V`.
fn global_value(v: &str) -> Result<(), String> {
    let items = option_items(v)?;
    match items.as_slice() {
        [(key, Some(_))] if !matches!(*key, "driver" | "property" | "value") => {
            let Some((driver, prop)) = key.rsplit_once('.') else {
                return Err(format!("{key:?} is not driver.property"));
            };
            global_pair(driver, prop)
        }
        _ => {
            let get = |k: &str| {
                let mut found = items.iter().filter(|(key, _)| *key == k);
                match (found.next(), found.next()) {
                    (Some((_, Some(v))), None) => Ok(*v),
                    _ => Err(format!("needs exactly one {k}=")),
                }
            };
            if let Some((k, _)) = items
                .iter()
                .find(|(k, _)| !matches!(*k, "driver" | "property" | "value"))
            {
                return Err(format!(
                    "holds {k:?}; the long form is driver=X,property=P,value=V"
                ));
            }
            global_pair(get("driver")?, get("property")?)?;
            get("value").map(|_| ())
        }
    }
}

/// The value of one allowed option, against that option's closed lists.
fn option_value(o: &QemuOption, v: &str) -> Result<(), String> {
    if o.name == "-global" {
        return global_value(v);
    }
    for (n, (key, value)) in option_items(v)?.into_iter().enumerate() {
        if n == 0 && !o.first.is_empty() {
            if value.is_none() && o.first.contains(&key) {
                continue;
            }
            return Err(format!(
                "must start with one of: {} (the device or model it adds), not {key:?}",
                o.first.join(" ")
            ));
        }
        match value {
            None => return Err(format!("holds {key:?} where key=value belongs")),
            Some(_) if o.keys.contains(&key) => {}
            Some(_) => {
                return Err(format!(
                    "sets {key:?}, which is not a property a spec may set here (allowed: {})",
                    o.keys.join(" ")
                ));
            }
        }
    }
    Ok(())
}

/// Checks `vm_qemu_args`: every option allowed, every value from that option's closed lists.
/// `Err` is (the index of the item at fault, why).
pub fn qemu_args(args: &[String]) -> Result<(), (usize, String)> {
    let mut i = 0;
    while i < args.len() {
        let opt = args[i].as_str();
        let Some(o) = QEMU_OPTIONS.iter().find(|o| o.name == opt) else {
            return Err((
                i,
                format!(
                    "{opt:?} is not an option vmlab lets a spec add (allowed: {})",
                    qemu_option_names().join(" ")
                ),
            ));
        };
        if o.takes_value {
            let Some(v) = args.get(i + 1) else {
                return Err((i, format!("{opt} needs a value after it")));
            };
            option_value(o, v).map_err(|why| (i + 1, format!("the value of {opt} {why}")))?;
            i += 2;
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn guest_file_names_are_short_plain_and_not_vmlabs_own() {
        for good in ["frr.conf", "setup.sh", "lldpd.conf", "a", "x_1-2.y"] {
            assert!(guest_file_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "a/b",
            "a,b",
            "name=x",
            "sp ace",
            "hostname",
            "interfaces",
            &"x".repeat(41),
        ] {
            assert!(guest_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn guest_file_paths_stay_inside_the_spec_directory() {
        for good in ["files/a.conf", "a.conf", "files/sub/b"] {
            assert!(spec_relative_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/shadow",
            "~/x",
            "../x",
            "files/../../x",
            "./files/a",
            "files/a\nb",
        ] {
            assert!(spec_relative_path(bad).is_err(), "{bad:?}");
        }
    }

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
        assert!(ok(&["-global", "driver=virtio-net-pci,property=mq,value=on"]).is_ok());
        assert!(ok(&["-device", "virtio-rng-pci", "-machine", "smm=off"]).is_ok());
        assert!(ok(&["-smbios", "type=1,manufacturer=Cisco,product=vEOS"]).is_ok());
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
            // Host devices, and devices or properties outside the closed lists.
            (vec!["-device", "vfio-pci,host=0000:01:00.0"], 1),
            (vec!["-device", "usb-host,hostbus=1,hostaddr=2"], 1),
            (vec!["-device", "e1000,bootindex=1"], 1),
            (vec!["-device", "mq=on"], 1),
            // -global in its long form carries any property unless it is read too.
            (vec!["-global", "driver=e1000,property=romfile,value=x"], 1),
            (
                vec![
                    "-global",
                    "driver=virtio-net-pci,property=netdev,value=mgmt",
                ],
                1,
            ),
            (vec!["-global", "driver=e1000,property=mq"], 1),
            (vec!["-global", "vfio-pci.x-no-mmap=on"], 1),
            (vec!["-global", "e1000.addr=0x3"], 1),
            (vec!["-smbios", "file=x"], 1),
            (vec!["-boot", "splash=x"], 1),
            (vec!["-machine", "accel=kvm"], 1),
            (vec!["-accel", "hvf"], 1),
            (vec!["-msg", "timestamp=on,,x"], 1),
        ] {
            let r = ok(&bad);
            assert_eq!(r.as_ref().map_err(|e| e.0), Err(at), "{bad:?}: {r:?}");
        }
    }
}
