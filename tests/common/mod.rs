//! Shared helpers for vmlab's integration tests: spec directories in temp dirs, the real
//! binary with a private VMLAB_HOME, the tiny guest image, and a lock so VM labs run one at a
//! time on a 2-core machine.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Seconds since this test process first asked (the clock of the lines [`TestLab::vmlab`] tells).
pub fn since_start() -> f64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
}

/// Path of the vmlab binary under test.
pub fn vmlab_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vmlab")
}

/// A spec directory and a private VMLAB_HOME, both removed on drop (after the lab is
/// destroyed and any stray QEMU of this home killed).
pub struct TestLab {
    pub root: tempfile::TempDir,
    pub name: String,
}

impl TestLab {
    pub fn new(name: &str) -> Self {
        // Short paths: QEMU's unix sockets must fit in 107 bytes.
        let root = tempfile::Builder::new()
            .prefix("vl")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::create_dir_all(root.path().join("specs/profiles")).expect("mkdir");
        std::fs::create_dir_all(root.path().join("home")).expect("mkdir");
        TestLab {
            root,
            name: name.to_string(),
        }
    }

    pub fn specs(&self) -> PathBuf {
        self.root.path().join("specs")
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    pub fn lab_dir(&self) -> PathBuf {
        self.home().join("labs").join(&self.name)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.specs().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write spec file");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.specs().join(rel)).expect("read spec file")
    }

    /// Runs vmlab with this lab's VMLAB_HOME, stdin closed.
    /// Each run is told on stderr with its time, so a slow or failing test shows where its
    /// time went.
    pub fn vmlab(&self, args: &[&str]) -> Output {
        let started = std::time::Instant::now();
        let o = self.command(args).output().expect("run vmlab");
        eprintln!(
            "[{:7.2}s] vmlab {} ({:.2} s, {})",
            since_start(),
            args.join(" "),
            started.elapsed().as_secs_f64(),
            o.status
        );
        o
    }

    /// Runs vmlab; the test fails unless it succeeds. Its output.
    pub fn ok(&self, args: &[&str]) -> Output {
        let o = self.vmlab(args);
        ok(&o, &format!("vmlab {args:?}"));
        o
    }

    /// Runs vmlab, which must succeed, and parses its stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        json(&self.vmlab(args), &format!("vmlab {args:?}"))
    }

    /// `vmlab status --json`.
    pub fn status(&self) -> serde_json::Value {
        self.json(&["status", "--json"])
    }

    /// Deploys the spec dir and fails the test, with vmlab's output, if that does not work.
    pub fn deploy(&self) -> Output {
        let specs = self.specs();
        let o = self.vmlab(&["deploy", "-S", specs.to_str().expect("utf-8 path")]);
        assert!(
            o.status.success(),
            "deploy failed:\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        o
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(vmlab_bin());
        c.args(args)
            .env("VMLAB_HOME", self.home())
            // Tests run under TCG wherever they run: a host's KVM may pass the probe and still
            // hang a guest's kernel (nested virtualisation).
            .env("VMLAB_ACCEL", "tcg")
            .stdin(std::process::Stdio::null());
        c
    }

    /// QEMU processes of this test's home: a `-pidfile` under it, whatever the program.
    pub fn qemus(&self) -> Vec<i32> {
        self.processes("\0-pidfile\0")
    }

    /// Link relays of this test's home.
    pub fn relays(&self) -> Vec<i32> {
        self.processes("\0relay\0--lab-dir\0")
    }

    /// Processes whose command line holds `marker` and names this test's home.
    fn processes(&self, marker: &str) -> Vec<i32> {
        processes_naming(&self.home(), &[marker])
    }
}

/// Processes whose command line names `home` and holds one of `markers`: only a test's own.
pub fn processes_naming(home: &Path, markers: &[&str]) -> Vec<i32> {
    let home = home.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&raw);
        if cmd.contains(&home) && markers.iter().any(|m| cmd.contains(m)) {
            out.push(pid);
        }
    }
    out
}

/// SIGKILLs the QEMUs and relays whose command line names `home` (a test's own, left behind).
pub fn kill_named(home: &Path) {
    for pid in processes_naming(home, &["\0-pidfile\0", "\0relay\0--lab-dir\0"]) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = self.vmlab(&["destroy", "--force", "--lab", &self.name]);
        kill_named(&self.home());
    }
}

/// `o`'s stdout; the test fails, showing all vmlab printed, unless `o` succeeded.
pub fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// `o`'s stdout as JSON, after [`ok`].
pub fn json(o: &Output, what: &str) -> serde_json::Value {
    serde_json::from_str(&ok(o, what))
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{}", stdout(o)))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails loudly (never skips) when QEMU is missing.
pub fn require_qemu() {
    for prog in ["qemu-system-x86_64", "qemu-img"] {
        let ok = Command::new(prog)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "{prog} is not installed: VM tests need QEMU (run .ci/run or scripts/setup)"
        );
    }
}

/// The tiny guest image, built once per checkout by assets/guest/build-image.sh
/// (`VMLAB_TEST_IMAGE` names a prebuilt one).
pub fn guest_image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("VMLAB_TEST_IMAGE") {
                let p = PathBuf::from(p);
                assert!(
                    p.is_file(),
                    "VMLAB_TEST_IMAGE={} does not exist",
                    p.display()
                );
                return p;
            }
            built_image("build-image.sh", "tiny.qcow2", "the tiny guest")
        })
        .clone()
}

/// The router guest (FRR, lldpd; `assets/guest/build-router.sh`), built once into `target/`
/// and again when its recipe is newer. Building needs Debian's package registry.
#[allow(dead_code)]
pub fn router_image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| built_image("build-router.sh", "router.qcow2", "the router guest"))
        .clone()
}

/// `target/vmlab-guest/<out>`, built by `assets/guest/<script>` when it is missing or older
/// than its recipe (under a machine-wide lock, so test processes build it once).
#[allow(dead_code)]
fn built_image(script: &str, out: &str, what: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/vmlab-guest").join(out);
    let script = root.join("assets/guest").join(script);
    let _lock = FileLock::acquire("vmlab-guest-build");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if !out.is_file() || modified(&script) > modified(&out) {
        let status = Command::new("bash")
            .arg(&script)
            .arg(&out)
            .status()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        assert!(status.success(), "building {what} image failed");
    }
    out
}

/// An exclusive lock shared by every test process on the machine.
pub struct FileLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

impl FileLock {
    pub fn acquire(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{name}.lock"));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .expect("open lock file");
        let lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("flock");
        FileLock(lock)
    }
}

/// Held while a test runs VMs: labs boot one at a time.
///
/// Each VM test has its own port bases, all below 32768: Linux hands out 32768–60999 to
/// outgoing connections (the tests' own ssh clients among them), and one that happens to
/// hold a lab's port makes the deploy's preflight refuse it (a CI run once failed so).
pub fn vm_lock() -> FileLock {
    let lock = FileLock::acquire("vmlab-vm-tests");
    eprintln!("[{:7.2}s] the machine's VM lock is held", since_start());
    lock
}

/// platforms.json for the tiny guest, with one platform per interface map: `tiny-stride`
/// (SONiC VS style names) and `tiny-seq` (VPP style names).
pub fn tiny_platforms(image: &Path, boot_timeout: u64) -> String {
    let platform = |map: &str| {
        serde_json::json!({
            "vm_image": image, "vm_memory": 256, "vm_cpus": 1,
            "vm_nic_driver": "virtio-net-pci", "vm_interface_map": map,
            "vm_credentials": { "user": "admin", "pass": "YourPaSsWoRd" },
            "vm_boot_timeout": boot_timeout
        })
    };
    let doc = serde_json::json!({
        "platforms": { "tiny-stride": platform("stride-4"), "tiny-seq": platform("sequential") }
    });
    serde_json::to_string_pretty(&doc).expect("platforms JSON") + "\n"
}

/// Is 127.0.0.1:port free?
pub fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A lab that boots VMs: QEMU checked (loudly), the guest image built, the machine-wide VM
/// lock held, and platforms.json written. The lab is destroyed before the lock is released.
pub struct VmLab {
    // Field order is drop order: destroy the lab, then let the next VM test run.
    pub lab: TestLab,
    _lock: FileLock,
}

impl std::ops::Deref for VmLab {
    type Target = TestLab;
    fn deref(&self) -> &TestLab {
        &self.lab
    }
}

/// A lab of router guests (no platforms written): QEMU checked, the router image built and
/// imported as `vmlab-router` into the lab's home, the machine-wide VM lock held.
#[allow(dead_code)]
pub fn router_lab(name: &str) -> VmLab {
    require_qemu();
    let image = router_image();
    let lock = vm_lock();
    let lab = TestLab::new(name);
    lab.ok(&[
        "image",
        "import",
        image.to_str().expect("utf-8 path"),
        "--name",
        "vmlab-router",
    ]);
    VmLab { lab, _lock: lock }
}

pub fn vm_lab(name: &str, boot_timeout: u64) -> VmLab {
    require_qemu();
    let image = guest_image();
    let lock = vm_lock();
    let lab = TestLab::new(name);
    lab.write("platforms.json", &tiny_platforms(&image, boot_timeout));
    VmLab { lab, _lock: lock }
}

/// A lab of two tiny guests `a` (sequential) and `b` (sequential) joined by one link
/// a:Ethernet0 -- b:Ethernet0, with ports `link`, `console`, `console+1`, `ssh`, `ssh+1`.
pub fn two_node_lab(name: &str, link: u16, console: u16, ssh: u16) -> VmLab {
    let lab = vm_lab(name, 120);
    lab.write(
        "topology.json",
        &two_node_topology(name, [link, console, ssh], ""),
    );
    lab.write("profiles/a.json", "{\"platform\": \"tiny-seq\"}");
    lab.write("profiles/b.json", "{\"platform\": \"tiny-seq\"}");
    lab
}

/// The topology of [`two_node_lab`]: port bases `[link, console, ssh]`, and `more` (`"key":
/// value` pairs) added to its `vmlab` settings.
pub fn two_node_topology(name: &str, [link, console, ssh]: [u16; 3], more: &str) -> String {
    let more = if more.is_empty() {
        String::new()
    } else {
        format!(", {more}")
    };
    format!(
        r#"{{ "name": "{name}", "devices": {{ "a": {{}}, "b": {{}} }},
             "links": [ {{ "a": "a:Ethernet0", "z": "b:Ethernet0" }} ],
             "vmlab": {{ "link_port_base": {link}, "console_port_base": {console}, "ssh_port_base": {ssh}{more} }} }}"#
    )
}

/// A QEMU under a name that says nothing of QEMU: a copy of the system emulator as
/// `<root>/bin/vm-emulator`, beside `share` and `lib` links so it finds its firmware and
/// modules the way it would in its own prefix. Set `VMLAB_QEMU` to it.
pub fn renamed_qemu(root: &Path) -> PathBuf {
    let real = std::fs::canonicalize(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("qemu-system-x86_64"))
            .find(|p| p.is_file())
            .expect("qemu-system-x86_64 on PATH"),
    )
    .expect("canonical qemu path");
    let prefix = real.parent().and_then(Path::parent).expect("QEMU's prefix");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    let emu = root.join("bin/vm-emulator");
    std::fs::copy(&real, &emu).expect("copy QEMU");
    for d in ["share", "lib"] {
        std::os::unix::fs::symlink(prefix.join(d), root.join(d)).expect("symlink");
    }
    emu
}

/// Types `input` into `vmlab console <node>` (stdin a pipe: it ends once the guest is quiet)
/// and returns what the console printed.
pub fn console_says(lab: &TestLab, node: &str, input: &str) -> String {
    use std::io::Write;
    let mut child = lab
        .command(&["console", "--lab", &lab.name, node])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run vmlab console");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to the console");
    stdout(&child.wait_with_output().expect("vmlab console"))
}

/// `vmlab ssh --lab <lab> <node> -- <cmd>`: its output, whatever its status.
pub fn ssh(lab: &TestLab, node: &str, cmd: &str) -> Output {
    lab.vmlab(&["ssh", "--lab", &lab.name, node, "--", cmd])
}

/// Configures `ip/30` on the guest NIC `eth<nic>` of `node` through `vmlab ssh`.
pub fn set_ip(lab: &TestLab, node: &str, nic: u32, ip: &str) {
    let cmd = format!("ip addr add {ip}/30 dev eth{nic} && ip link set eth{nic} up");
    ok(
        &ssh(lab, node, &cmd),
        &format!("configuring eth{nic} on {node}"),
    );
}

/// Pings from `node` and returns whether replies came back (tolerating a lost first packet
/// on a busy TCG host).
pub fn ping(lab: &TestLab, node: &str, ip: &str) -> bool {
    let o = ssh(lab, node, &format!("ping -c 3 -i 0.2 -W 3 {ip}"));
    // busybox ping exits 0 once any reply came back.
    o.status.success() && stdout(&o).contains("bytes from")
}

/// Runs `cmd` on `node` over `vmlab ssh`; its stdout, or the test fails.
pub fn on(lab: &TestLab, node: &str, cmd: &str) -> String {
    ok(&ssh(lab, node, cmd), &format!("{node}: `{cmd}`"))
}

/// busybox ping's summary: (transmitted, received, average round trip in ms).
pub fn ping_stats(out: &str) -> (u32, u32, Option<f64>) {
    let mut tx = 0;
    let mut rx = 0;
    let mut avg = None;
    for line in out.lines() {
        if let Some(rest) = line.split(" packets transmitted, ").nth(1) {
            tx = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            rx = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
        if let Some(v) = line.split(" = ").nth(1) {
            avg = v.split('/').nth(1).and_then(|a| a.parse().ok());
        }
    }
    (tx, rx, avg)
}

/// Two network namespaces standing in for two pods: each with its own address on a veth pair
/// between them, and (through `ip netns exec`, which mounts `/etc/netns/<ns>/hosts` over
/// `/etc/hosts`) the names the headless Service would give the shards. Removed on drop.
pub struct Pods {
    pub names: [String; 2],
}

impl Pods {
    pub fn new(hosts: &str) -> Self {
        let tag = std::process::id() % 100_000;
        // Made before anything is set up, so that whatever was set up is removed on a failure.
        let pods = Pods {
            names: [format!("vk{tag}a"), format!("vk{tag}b")],
        };
        let run = |args: &[&str]| {
            let o = Command::new("ip").args(args).output().expect("run ip");
            ok(&o, &format!("ip {args:?} (network namespaces need root)"));
        };
        for ns in &pods.names {
            run(&["netns", "add", ns]);
            std::fs::create_dir_all(format!("/etc/netns/{ns}")).unwrap();
            std::fs::write(format!("/etc/netns/{ns}/hosts"), hosts).unwrap();
            run(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let (a, b) = (format!("{}v", pods.names[0]), format!("{}v", pods.names[1]));
        run(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        for (k, (ns, dev)) in pods.names.iter().zip([&a, &b]).enumerate() {
            run(&["link", "set", dev, "netns", ns]);
            run(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("10.251.0.{}/24", k + 1),
                "dev",
                dev,
            ]);
            run(&["-n", ns, "link", "set", dev, "up"]);
        }
        pods
    }

    /// `vmlab` inside pod `k`, with its own home.
    pub fn vmlab(&self, k: usize, home: &Path, args: &[&str]) -> std::process::Output {
        self.command(k, home, args)
            .output()
            .expect("run vmlab in the namespace")
    }

    /// The command of `vmlab` inside pod `k`, with its own home, stdin closed.
    pub fn command(&self, k: usize, home: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.names[k], vmlab_bin()])
            .args(args)
            .env("VMLAB_HOME", home)
            .env("VMLAB_ACCEL", "tcg")
            .stdin(std::process::Stdio::null());
        c
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
        }
    }
}

/// Every regular file under `dir` (by its path inside `dir`), with its bytes (sockets and pipes
/// are not files).
pub fn files_under(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}
