//! Small HTML pages a person reads (Dismiss answers, Status) and the HTTP `res` output.

use serde_json::{Map, Value};

use super::protocol::OutputValue;

/// Escapes text for HTML element content and attribute values: the one escaping every page
/// Curfew serves uses (`curfew_report::escape`), since instance names and tags are untrusted.
pub(crate) fn escape(s: &str) -> String {
    curfew_report::escape(s)
}

/// A complete page: `title` and `body_html` (already escaped where needed).
pub(crate) fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t} · Curfew</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
         button{{font-size:1rem;padding:.5rem 1rem}}table{{border-collapse:collapse}}td,th{{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}}</style>\
         </head><body><h1>{t}</h1>{body_html}</body></html>",
        t = escape(title)
    )
}

/// The `res` output binding value of an HTTP function.
pub(crate) fn http_response(status: u16, content_type: &str, body: String) -> OutputValue {
    let mut headers = Map::new();
    headers.insert("Content-Type".into(), content_type.into());
    headers.insert("Cache-Control".into(), "no-store".into());
    let mut m = Map::new();
    m.insert("statusCode".into(), status.into());
    m.insert("headers".into(), Value::Object(headers));
    m.insert("body".into(), body.into());
    OutputValue::object(m)
}

/// An HTML `res`.
pub(crate) fn html(status: u16, title: &str, body_html: &str) -> OutputValue {
    http_response(status, "text/html; charset=utf-8", page(title, body_html))
}

/// Renders a JSON value as nested HTML tables (for the Status page).
pub(crate) fn json_table(v: &Value) -> String {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let rows: String = m
                .iter()
                .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", escape(k), json_table(v)))
                .collect();
            format!("<table>{rows}</table>")
        }
        Value::Array(items) if !items.is_empty() => {
            let rows: String = items
                .iter()
                .map(|v| format!("<li>{}</li>", json_table(v)))
                .collect();
            format!("<ul>{rows}</ul>")
        }
        Value::String(s) => escape(s),
        Value::Null => "—".to_owned(),
        other => escape(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        let t = json_table(&serde_json::json!({"<b>": ["x<y", null, 3]}));
        assert!(
            t.contains("&lt;b&gt;") && t.contains("x&lt;y") && !t.contains("<b>"),
            "{t}"
        );
    }
}
