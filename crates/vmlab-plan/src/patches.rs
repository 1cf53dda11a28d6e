//! Boot patches, purely: a patch set's descriptors (newtron's `<dataplane>/always/*.json`
//! layout) parsed and checked, their templates rendered as Go's text/template renders them
//! with newtlab's variables for the NICs this plan really gives the node, and each patch
//! turned into the steps it takes in the guest — what `vmlab deploy --dry-run` prints and
//! what the engine runs over SSH after every boot. Reading the files is the engine's.
//!
//! What reaches the guest's shell is only what the patch's author wrote as a command
//! (`pre_commands`, `post_commands`): a rendered file travels on stdin, a `dest` or a disabled
//! file is checked (absolute, no control characters) and quoted, and a `redis` line is split
//! as `redis-cli` splits its own input, each word quoted, so a port name from a platform file
//! can never become a shell word.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{MissingKey, Template, TemplateError, Value};
use serde::{Deserialize, Serialize};

use vmlab_spec::{Dataplane, Node, PlatformPort};

/// The largest descriptor or template vmlab reads (newtron's largest is under 200 KiB).
pub const MAX_PATCH_FILE: u64 = 4 << 20;

/// Where SONiC keeps a virtual switch's SKU files (newtlab's `HWSkuDir` before the SKU).
pub const HWSKU_ROOT: &str = "/usr/share/sonic/device/x86_64-kvm_x86_64-r0";

/// One patch descriptor as written (newtlab's `BootPatch`). Unknown fields are refused: a
/// field vmlab does not know is a step it would silently not take.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    pub description: String,
    #[serde(default)]
    pub pre_commands: Vec<String>,
    #[serde(default)]
    pub disable_files: Vec<String>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    #[serde(default)]
    pub redis: Vec<RedisSpec>,
    #[serde(default)]
    pub post_commands: Vec<String>,
}

/// A file a patch writes: a template of the patch's folder rendered to `dest` (itself a
/// template).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub template: String,
    pub dest: String,
}

/// Redis commands a patch runs: a template rendered into one `redis-cli` command per line,
/// against database `db`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    pub db: u32,
    pub template: String,
}

impl Descriptor {
    /// Parses a descriptor's text; `file` names it in the error.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "boot patch {file}: {e}; a patch is {{\"description\": ..., \"pre_commands\": \
                 [...], \"disable_files\": [...], \"files\": [{{\"template\", \"dest\"}}], \
                 \"redis\": [{{\"db\", \"template\"}}], \"post_commands\": [...]}}"
            )
        })
    }

    /// The templates it names (files of its own folder), each once.
    pub fn templates(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let names = self.files.iter().map(|f| f.template.as_str());
        for t in names.chain(self.redis.iter().map(|r| r.template.as_str())) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

/// A template name a descriptor may use: a plain file name of the patch's own folder.
pub fn template_name(name: &str) -> Result<(), String> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control);
    if plain {
        Ok(())
    } else {
        Err(format!(
            "template {name:?} is not a file name of the patch's own folder"
        ))
    }
}

/// A descriptor read from its patch set, with the templates it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Its path inside the patch set's folder (`vpp/always/02-port-config.json`).
    pub file: String,
    pub descriptor: Descriptor,
    /// Template name → text.
    pub templates: BTreeMap<String, String>,
}

/// The variables every template sees: newtlab's `PatchVars`, for the NICs vmlab builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PatchVars {
    /// How many data NICs the VM has (NIC 1 up to the highest a link uses: gaps are NICs too).
    pub num_ports: usize,
    /// Each data NIC's PCI address as QEMU's command line places it (`0000:00:09.0`).
    #[serde(rename = "PCIAddrs")]
    pub pci_addrs: Vec<String>,
    /// The platform's port for each data NIC, in NIC order.
    pub ports: Vec<PortVar>,
    #[serde(rename = "HWSkuDir")]
    pub hwsku_dir: String,
    pub port_speed: u64,
    pub platform: String,
    pub dataplane: String,
    pub release: String,
}

/// One port as templates see it (newtron's `PortSpec`: `Name`, `NICIndex`, `Speed`, `Lanes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortVar {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "NICIndex")]
    pub nic_index: u32,
    #[serde(rename = "Speed")]
    pub speed: String,
    #[serde(rename = "Lanes")]
    pub lanes: Vec<i64>,
}

impl PatchVars {
    /// The variables for `node`, whose data NICs are `data` (`(NIC index, PCI slot)` as the
    /// plan places them, in order). A data NIC's port is the platform's `ports[]` entry for
    /// that NIC index, else the name the node's interface map gives it.
    pub fn new(node: &Node, dataplane: &Dataplane, data: &[(u32, u32)]) -> Self {
        let port = |k: u32| -> PortVar {
            match dataplane.ports.iter().find(|p| p.nic_index == k) {
                Some(PlatformPort {
                    name,
                    nic_index,
                    speed,
                    lanes,
                }) => PortVar {
                    name: name.clone(),
                    nic_index: *nic_index,
                    speed: speed.clone(),
                    lanes: lanes.clone(),
                },
                None => PortVar {
                    name: node.interface_map.name_for(k).unwrap_or_default(),
                    nic_index: k,
                    speed: String::new(),
                    lanes: Vec::new(),
                },
            }
        };
        PatchVars {
            num_ports: data.len(),
            pci_addrs: data.iter().map(|(_, slot)| pci_address(*slot)).collect(),
            ports: data.iter().map(|(k, _)| port(*k)).collect(),
            hwsku_dir: format!("{HWSKU_ROOT}/{}", dataplane.hwsku),
            port_speed: dataplane.speed_mbps,
            platform: node.platform.clone(),
            dataplane: dataplane.name.clone(),
            release: dataplane.release.clone().unwrap_or_default(),
        }
    }

    /// As a template's data: a map of the fields by their Go names, so a field that does not
    /// exist is an error, as it is on newtlab's struct.
    pub fn value(&self) -> Value {
        let s = |v: &str| Value::String(Arc::from(v));
        let list = |v: Vec<Value>| Value::List(Arc::from(v));
        let map = |m: Vec<(&str, Value)>| {
            Value::Map(Arc::new(
                m.into_iter().map(|(k, v)| (Arc::from(k), v)).collect(),
            ))
        };
        let ports = self
            .ports
            .iter()
            .map(|p| {
                map(vec![
                    ("Name", s(&p.name)),
                    ("NICIndex", Value::Int(i64::from(p.nic_index))),
                    ("Speed", s(&p.speed)),
                    (
                        "Lanes",
                        list(p.lanes.iter().map(|l| Value::Int(*l)).collect()),
                    ),
                ])
            })
            .collect();
        map(vec![
            ("NumPorts", Value::Int(self.num_ports as i64)),
            (
                "PCIAddrs",
                list(self.pci_addrs.iter().map(|a| s(a)).collect()),
            ),
            ("Ports", list(ports)),
            ("HWSkuDir", s(&self.hwsku_dir)),
            (
                "PortSpeed",
                Value::Int(i64::try_from(self.port_speed).unwrap_or(i64::MAX)),
            ),
            ("Platform", s(&self.platform)),
            ("Dataplane", s(&self.dataplane)),
            ("Release", s(&self.release)),
        ])
    }
}

/// A PCI slot on bus 0 as Linux and DPDK write it.
pub fn pci_address(slot: u32) -> String {
    format!("0000:00:{slot:02x}.0")
}

/// Renders Go template `text` (named `name` in errors) with `data`: newtlab's functions
/// (`add`), and a missing field an error.
pub fn render(name: &str, text: &str, data: &Value) -> Result<String, String> {
    let fail = |e: TemplateError| format!("template {name}: {e}");
    check_blocks(text).map_err(|e| format!("template {name}: {e}"))?;
    Template::new(name)
        .missing_key(MissingKey::Error)
        .func("add", add)
        .parse(text)
        .map_err(fail)?
        .execute_to_string(data)
        .map_err(fail)
}

/// What Go's parser refuses and the renderer would take: a block (`if`, `range`, `with`,
/// `block`, `define`) without its `{{end}}`, an `{{end}}` or `{{else}}` outside one. Actions
/// are found as Go's lexer finds them: strings, raw strings and characters may hold `}}`, and
/// a comment is `{{/* ... */}}`.
fn check_blocks(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let line = |at: usize| text[..at].matches('\n').count() + 1;
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut i = 0;
    while let Some(found) = text[i..].find("{{") {
        let start = i + found;
        let mut j = start + 2;
        if b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        while b.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if text[j..].starts_with("/*") {
            let end = text[j..]
                .find("*/")
                .ok_or_else(|| format!("line {}: unclosed comment", line(start)))?;
            i = j + end + 2;
            continue;
        }
        let word_end = text[j..]
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .map_or(text.len(), |k| j + k);
        let word = &text[j..word_end];
        // The action's end, past any quoted text.
        let mut k = j;
        let mut quote: Option<u8> = None;
        loop {
            let c = *b
                .get(k)
                .ok_or_else(|| format!("line {}: unclosed action", line(start)))?;
            match (quote, c) {
                (Some(q), b'\\') if q != b'`' => k += 1,
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'`' | b'\'') => quote = Some(c),
                (None, b'}') if b.get(k + 1) == Some(&b'}') => break,
                (None, _) => {}
            }
            k += 1;
        }
        i = k + 2;
        match word {
            "if" | "range" | "with" | "block" | "define" => open.push((word, line(start))),
            "end" if open.pop().is_none() => {
                return Err(format!("line {}: unexpected {{{{end}}}}", line(start)));
            }
            "else" if open.is_empty() => {
                return Err(format!("line {}: unexpected {{{{else}}}}", line(start)));
            }
            _ => {}
        }
    }
    match open.last() {
        Some((word, at)) => Err(format!(
            "unexpected EOF: the {{{{{word}}}}} of line {at} has no {{{{end}}}}"
        )),
        None => Ok(()),
    }
}

/// newtlab's `add`: `func(a, b int) int`.
fn add(args: &[Value]) -> gotmpl::Result<Value> {
    match args {
        [Value::Int(a), Value::Int(b)] => Ok(Value::Int(a.wrapping_add(*b))),
        [_, _] => Err(TemplateError::Exec(
            "add takes two whole numbers (as newtlab's add(a, b int) does)".into(),
        )),
        _ => Err(TemplateError::ArgCount {
            name: "add".into(),
            expected: 2,
            got: args.len(),
        }),
    }
}

/// Which of a patch's command lists a command came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Pre,
    Post,
}

/// One thing a patch does in the guest, in the order it does them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// A command of the patch, as its author wrote it; it must succeed.
    Command { phase: Phase, command: String },
    /// A file renamed to `<path>.disabled` (a file that is not there is no failure).
    Disable { path: String },
    /// A rendered template written to `dest` (`sudo tee`, the content on stdin).
    Write {
        template: String,
        dest: String,
        content: String,
    },
    /// One rendered line of a redis template, run as `redis-cli -n <db> <words>`.
    Redis {
        template: String,
        db: u32,
        line: String,
        words: Vec<String>,
    },
}

impl Step {
    /// The command the guest's shell runs for this step, and what goes to its stdin.
    pub fn remote(&self) -> (String, Option<&str>) {
        match self {
            Step::Command { command, .. } => (command.clone(), None),
            Step::Disable { path } => (
                format!(
                    "sudo mv -- {} {} 2>/dev/null; true",
                    quote(path),
                    quote(&format!("{path}.disabled"))
                ),
                None,
            ),
            Step::Write { dest, content, .. } => (
                format!("sudo tee -- {} >/dev/null", quote(dest)),
                Some(content.as_str()),
            ),
            Step::Redis { db, words, .. } => {
                let mut cmd = format!("redis-cli -n {db}");
                for w in words {
                    cmd.push(' ');
                    cmd.push_str(&quote(w));
                }
                (cmd, None)
            }
        }
    }

    /// A failure of this step fails the boot (a file to disable may be missing).
    pub fn must_succeed(&self) -> bool {
        !matches!(self, Step::Disable { .. })
    }

    /// The step in one line, for progress and errors.
    pub fn describe(&self) -> String {
        match self {
            Step::Command { phase, command } => {
                let p = match phase {
                    Phase::Pre => "pre_command",
                    Phase::Post => "post_command",
                };
                format!("{p} {command:?}")
            }
            Step::Disable { path } => format!("disable {path}"),
            Step::Write { template, dest, .. } => format!("write {dest} (from {template})"),
            Step::Redis { db, line, .. } => format!("redis -n {db} {line}"),
        }
    }
}

/// A patch rendered for one node: everything it will do, nothing left to fill in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// The descriptor's path inside its patch set (`vpp/always/02-port-config.json`).
    pub file: String,
    pub description: String,
    pub steps: Vec<Step>,
}

/// Renders every patch of a set for one node, in order: pre-commands, disabled files, files,
/// redis commands, post-commands. The first problem is the error, naming the patch file and
/// the template or value.
pub fn render_set(patches: &[Loaded], vars: &PatchVars) -> Result<Vec<Rendered>, String> {
    let data = vars.value();
    patches
        .iter()
        .map(|p| render_one(p, &data).map_err(|e| format!("boot patch {}: {e}", p.file)))
        .collect()
}

fn render_one(p: &Loaded, data: &Value) -> Result<Rendered, String> {
    let d = &p.descriptor;
    let template = |name: &str| -> Result<String, String> {
        template_name(name)?;
        let text = p
            .templates
            .get(name)
            .ok_or_else(|| format!("template {name} was not read"))?;
        render(name, text, data)
    };
    let mut steps: Vec<Step> = d
        .pre_commands
        .iter()
        .map(|c| Step::Command {
            phase: Phase::Pre,
            command: c.clone(),
        })
        .collect();
    for f in &d.disable_files {
        guest_path(f).map_err(|why| format!("disable_files {f:?} {why}"))?;
        steps.push(Step::Disable { path: f.clone() });
    }
    for f in &d.files {
        let content = template(&f.template)?;
        // As newtlab does: a dest is a template only when it has an action.
        let dest = if f.dest.contains("{{") {
            render("dest", &f.dest, data).map_err(|e| format!("dest {:?}: {e}", f.dest))?
        } else {
            f.dest.clone()
        };
        guest_path(&dest).map_err(|why| format!("dest {dest:?} {why}"))?;
        steps.push(Step::Write {
            template: f.template.clone(),
            dest,
            content,
        });
    }
    for r in &d.redis {
        let text = template(&r.template)?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let words = redis_words(line)
                .and_then(|w| match w.first() {
                    // redis-cli would read it as one of its own options.
                    Some(first) if first.starts_with('-') => {
                        Err("a redis line starts with a command, not an option".into())
                    }
                    _ => Ok(w),
                })
                .map_err(|why| format!("template {}: line {line:?}: {why}", r.template))?;
            steps.push(Step::Redis {
                template: r.template.clone(),
                db: r.db,
                line: line.to_string(),
                words,
            });
        }
    }
    steps.extend(d.post_commands.iter().map(|c| Step::Command {
        phase: Phase::Post,
        command: c.clone(),
    }));
    Ok(Rendered {
        file: p.file.clone(),
        description: d.description.clone(),
        steps,
    })
}

/// A path in the guest a patch writes or renames: absolute, without control characters.
pub fn guest_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err("is not an absolute path".into());
    }
    if p.chars().any(char::is_control) {
        return Err("has a control character (a newline?)".into());
    }
    Ok(())
}

/// A line split into words as `redis-cli` splits its input (hiredis' `sdssplitargs`):
/// white space separates words; `"..."` takes `\n \r \t \b \a \\ \"` and `\xHH` escapes;
/// `'...'` takes `\'`; a closing quote must end the word.
pub fn redis_words(line: &str) -> Result<Vec<String>, String> {
    let b: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && b[i].is_whitespace() {
            i += 1;
        }
        if i == b.len() {
            return Ok(out);
        }
        let mut w = String::new();
        let mut quote: Option<char> = None;
        loop {
            match quote {
                Some('"') => {
                    let c = *b.get(i).ok_or("a double quote is not closed")?;
                    match c {
                        '\\' if b.get(i + 1) == Some(&'x')
                            && b.get(i + 2).is_some_and(char::is_ascii_hexdigit)
                            && b.get(i + 3).is_some_and(char::is_ascii_hexdigit) =>
                        {
                            let hex: String = b[i + 2..i + 4].iter().collect();
                            let byte = u8::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                            w.push(char::from(byte));
                            i += 3;
                        }
                        '\\' if i + 1 < b.len() => {
                            i += 1;
                            w.push(match b[i] {
                                'n' => '\n',
                                'r' => '\r',
                                't' => '\t',
                                'b' => '\u{8}',
                                'a' => '\u{7}',
                                c => c,
                            });
                        }
                        '"' => {
                            if b.get(i + 1).is_some_and(|c| !c.is_whitespace()) {
                                return Err("a closing quote must end the word".into());
                            }
                            i += 1;
                            break;
                        }
                        c => w.push(c),
                    }
                }
                Some(_) => {
                    let c = *b.get(i).ok_or("a single quote is not closed")?;
                    match c {
                        '\\' if b.get(i + 1) == Some(&'\'') => {
                            w.push('\'');
                            i += 1;
                        }
                        '\'' => {
                            if b.get(i + 1).is_some_and(|c| !c.is_whitespace()) {
                                return Err("a closing quote must end the word".into());
                            }
                            i += 1;
                            break;
                        }
                        c => w.push(c),
                    }
                }
                None => match b.get(i) {
                    None => break,
                    Some(c) if c.is_whitespace() => break,
                    Some('"') => quote = Some('"'),
                    Some('\'') => quote = Some('\''),
                    Some(c) => w.push(*c),
                },
            }
            i += 1;
        }
        out.push(w);
    }
}

/// `s` as one word of a POSIX shell: as it is when it has only characters no shell treats
/// specially, else single-quoted, each `'` written `'\''`.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'-' | b'.' | b'/' | b':' | b',' | b'+' | b'@' | b'%'
                )
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_lines_split_as_redis_cli_splits_them() {
        assert_eq!(
            redis_words(
                r#"HSET "DEVICE_METADATA|localhost" "docker_routing_config_mode" "unified""#
            )
            .unwrap(),
            [
                "HSET",
                "DEVICE_METADATA|localhost",
                "docker_routing_config_mode",
                "unified"
            ]
        );
        assert_eq!(
            redis_words(r#"EVAL "for _,k in ipairs(redis.call('KEYS','PORT|*')) do end" 0"#)
                .unwrap(),
            [
                "EVAL",
                "for _,k in ipairs(redis.call('KEYS','PORT|*')) do end",
                "0"
            ]
        );
        assert_eq!(
            redis_words(r#"SET a "x\"y\n\x41" 'it\'s'"#).unwrap(),
            ["SET", "a", "x\"y\nA", "it's"]
        );
        assert_eq!(redis_words("  ").unwrap(), Vec::<String>::new());
        for bad in [r#"SET "a"b"#, r#"SET "open"#, "SET 'open", "SET 'a'b"] {
            assert!(redis_words(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_word_of_a_patch_value_becomes_a_shell_word() {
        let step = Step::Redis {
            template: "t".into(),
            db: 4,
            line: String::new(),
            words: vec!["HSET".into(), "PORT|E0'; rm -rf / #".into()],
        };
        assert_eq!(
            step.remote().0,
            r"redis-cli -n 4 HSET 'PORT|E0'\''; rm -rf / #'"
        );
        let w = Step::Write {
            template: "t".into(),
            dest: "/etc/a b$(id)".into(),
            content: "x".into(),
        };
        assert_eq!(
            w.remote(),
            ("sudo tee -- '/etc/a b$(id)' >/dev/null".into(), Some("x"))
        );
        assert!(guest_path("etc/x").is_err());
        assert!(guest_path("/etc/x\nrm").is_err());
        assert!(template_name("../x").is_err() && template_name("a/b").is_err());
        assert!(template_name("port_config.ini.tmpl").is_ok());
    }

    #[test]
    fn unknown_descriptor_fields_are_refused_with_the_file() {
        let e = Descriptor::parse(
            "vpp/always/01.json",
            r#"{"description": "x", "pre_comands": []}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("vpp/always/01.json") && e.contains("pre_comands"),
            "{e}"
        );
        let d = Descriptor::parse(
            "x.json",
            r#"{"description": "d", "files": [{"template": "a", "dest": "/a"}],
                "redis": [{"db": 4, "template": "a"}, {"db": 4, "template": "b"}]}"#,
        )
        .unwrap();
        assert_eq!(d.templates(), ["a", "b"]);
    }

    #[test]
    fn add_is_newtlabs() {
        let v = Value::Map(Arc::new(BTreeMap::new()));
        assert_eq!(render("t", "{{add 2 3}}", &v).unwrap(), "5");
        let e = render("t", r#"{{add "2" 3}}"#, &v).unwrap_err();
        assert!(e.contains("template t") && e.contains("add"), "{e}");
        let e = render("t", "{{.Missing}}", &v).unwrap_err();
        assert!(e.contains("Missing"), "{e}");
    }
}
