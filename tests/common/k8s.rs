//! Reading `vmlab export k8s`'s manifests back in tests: the YAML stream as JSON values, the
//! documents of a kind, and the spec directory a pod's projected volume would show.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The YAML stream as JSON values, one per document.
pub fn documents(yaml: &str) -> Vec<Value> {
    let docs = yaml_rust2::YamlLoader::load_from_str(yaml).expect("the export is YAML");
    docs.iter().map(to_json).collect()
}

fn to_json(y: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => json!(b),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => json!(r.parse::<f64>().expect("a number")),
        Yaml::String(s) => json!(s),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_string(), to_json(v)))
                .collect(),
        ),
        other => panic!("unexpected YAML node {other:?}"),
    }
}

pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// Every file a ConfigMap or the Secret carries, by its path in the spec directory, as the
/// pod's projected volume puts it back.
pub fn mounted(docs: &[Value], sts: &Value) -> BTreeMap<String, Vec<u8>> {
    use base64::Engine as _;
    let pod = &sts["spec"]["template"]["spec"];
    let spec = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "spec")
        .expect("a spec volume");
    let mut files = BTreeMap::new();
    for src in spec["projected"]["sources"].as_array().unwrap() {
        let (kind, name) = if src.get("configMap").is_some() {
            ("ConfigMap", &src["configMap"])
        } else {
            ("Secret", &src["secret"])
        };
        let doc = docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name["name"])
            .unwrap_or_else(|| panic!("no {kind} {}", name["name"]));
        for item in name["items"].as_array().unwrap() {
            let key = item["key"].as_str().unwrap();
            let bytes = match (kind, doc["data"].get(key), doc.get("binaryData")) {
                ("ConfigMap", Some(Value::String(t)), _) => t.clone().into_bytes(),
                ("ConfigMap", None, Some(b)) => base64::engine::general_purpose::STANDARD
                    .decode(b[key].as_str().unwrap())
                    .unwrap(),
                _ => base64::engine::general_purpose::STANDARD
                    .decode(doc["data"][key].as_str().unwrap())
                    .unwrap(),
            };
            files.insert(item["path"].as_str().unwrap().to_string(), bytes);
        }
    }
    files
}

/// Lab `ab` of two tiny guests `a` and `b` joined by one link, written into `lab`'s spec
/// directory, exported in two shards, and laid out in `<root>/mnt` as each pod's projected
/// volume shows it (the lab key 0600, as the shard copies it). The manifests, the export's
/// stderr and the mount.
pub fn two_shards(
    lab: &super::TestLab,
    image: &std::path::Path,
) -> (Vec<Value>, String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    lab.write(
        "topology.json",
        r#"{ "name": "ab", "devices": { "a": {}, "b": {} },
             "links": [ { "a": "a:Ethernet0", "z": "b:Ethernet0" } ],
             "vmlab": { "link_port_base": 24950, "console_port_base": 25990, "ssh_port_base": 27990 } }"#,
    );
    lab.write("platforms.json", &super::tiny_platforms(image, 120));
    lab.write("profiles/a.json", r#"{ "platform": "tiny-seq" }"#);
    lab.write("profiles/b.json", r#"{ "platform": "tiny-seq" }"#);
    let specs = lab.specs();
    let o = lab.vmlab(&[
        "export",
        "k8s",
        "-S",
        specs.to_str().unwrap(),
        "--shards",
        "2",
        "--images-claim",
        "i",
    ]);
    let docs = documents(&super::ok(&o, "vmlab export k8s"));
    let mnt = lab.root.path().join("mnt");
    for (rel, bytes) in mounted(&docs, of_kind(&docs, "StatefulSet")[0]) {
        let p = mnt.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    std::fs::set_permissions(
        mnt.join("vmlab.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    (docs, super::stderr(&o), mnt)
}
