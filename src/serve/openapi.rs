//! `/v1/openapi.json`: the OpenAPI 3.0 document of `vmlab serve`, made from the route table the
//! router is made from, and from the types the handlers parse and answer: each request body's
//! JSON Schema is derived from the struct its handler parses (unknown keys refused:
//! `additionalProperties: false`), each answer's from the type it puts in the envelope, so the
//! document cannot describe what the server does not do. Every route also documents an example
//! body, which the tests check against its schema.

use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Map, Value, json};

use super::http::{Answer, Route};

/// The document for `routes`, and the two that are not in the table: `/` and this one.
pub(crate) fn document(routes: &[Route]) -> Value {
    let settings = |contract| SchemaSettings::openapi3().with(|s| s.contract = contract);
    // Bodies as the handlers read them, answers as they are written.
    let mut bodies = settings(Contract::Deserialize).into_generator();
    let mut answers = settings(Contract::Serialize).into_generator();
    let finish = |mut s: schemars::Schema| {
        for t in &mut SchemaSettings::openapi3().transforms {
            t.transform(&mut s);
        }
        s.to_value()
    };
    let error = json!({
        "description": "{\"error\": \"...\"}: 400 bad input, 401 no token, 403 a web page, 404 no \
                        such lab or node, 409 busy, 413 too large, 415 not JSON, 421 foreign \
                        Host, 503 too many, 500",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    let mut paths = Map::new();
    for r in routes {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut responses = Map::new();
        match r.answer {
            Answer::Data(status, schema) => {
                let data = finish(schema(&mut answers));
                responses.insert(
                    status.to_string(),
                    json!({
                        "description": "{\"data\": ...}",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {"data": data},
                            "required": ["data"],
                        }}}
                    }),
                );
            }
            Answer::Stream => {
                responses.insert(
                    "200".into(),
                    json!({
                        "description": "Server-Sent Events; resume with Last-Event-ID",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}
                    }),
                );
            }
            Answer::Refused(status) => {
                responses.insert(status.to_string(), error.clone());
            }
        }
        responses.insert("default".into(), error.clone());
        let mut op = json!({
            "summary": r.summary,
            "operationId": operation_id(r.method, r.path),
            "tags": [if r.newtron { "newtron" } else { "vmlab" }],
            "parameters": params,
            "responses": responses,
        });
        if let Some((schema, example)) = &r.body {
            op["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {
                    "schema": finish(schema(&mut bodies)),
                    "example": example,
                }}
            });
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    let plain = |summary: &str, id: &str| {
        json!({"get": {"summary": summary, "operationId": id, "tags": ["vmlab"], "parameters": [],
                       "responses": {"200": {"description": summary,
                                             "content": {"application/json": {"schema": {"type": "object"}}}}}}})
    };
    paths.insert(
        "/".into(),
        plain("Where things are: the two APIs and this document", "root"),
    );
    paths.insert("/v1/openapi.json".into(), plain("This document", "openapi"));
    let mut schemas = bodies.take_definitions(true);
    schemas.extend(answers.take_definitions(true));
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}),
    );
    json!({
        "openapi": "3.0.3",
        "info": {"title": "vmlab serve", "version": env!("CARGO_PKG_VERSION")},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    })
}

/// A unique name for an operation: its method and path (`post_v1_labs_name_deploy`).
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!("{method}_{}", words.join("_"))
}
