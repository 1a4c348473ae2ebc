//! Entity-group transactions (`$batch`): one changeset of at most [`MAX_BATCH`] inserts into
//! one partition, as `multipart/mixed`, and reading the per-operation statuses back.

/// The service's limit of operations per changeset.
pub(crate) const MAX_BATCH: usize = 100;

/// Builds the multipart body of one changeset of inserts into `table_url`; returns
/// `(content_type, body)`.
pub(crate) fn insert_changeset(
    table_url: &str,
    entities: &[serde_json::Value],
    boundary_seed: u64,
) -> (String, Vec<u8>) {
    let ops: Vec<(&str, String, &serde_json::Value)> = entities
        .iter()
        .map(|e| ("POST", table_url.to_owned(), e))
        .collect();
    changeset(&ops, boundary_seed)
}

/// One changeset of insert-or-replace operations (`PUT` to each entity's URL, no `If-Match`):
/// `(entity URL, entity)` pairs of one partition.
pub(crate) fn upsert_changeset(
    entities: &[(String, serde_json::Value)],
    boundary_seed: u64,
) -> (String, Vec<u8>) {
    let ops: Vec<(&str, String, &serde_json::Value)> = entities
        .iter()
        .map(|(url, e)| ("PUT", url.clone(), e))
        .collect();
    changeset(&ops, boundary_seed)
}

/// One changeset of unconditional deletes (`DELETE` to each entity's URL, `If-Match: *`) of
/// one partition. One absent entity fails the whole changeset with 404.
pub(crate) fn delete_changeset(urls: &[String], boundary_seed: u64) -> (String, Vec<u8>) {
    let batch = format!("batch_{boundary_seed:016x}");
    let changeset = format!("changeset_{boundary_seed:016x}");
    let mut body =
        format!("--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n");
    for (i, url) in urls.iter().enumerate() {
        body.push_str(&format!(
            "--{changeset}\r\n\
             Content-Type: application/http\r\n\
             Content-Transfer-Encoding: binary\r\n\r\n\
             DELETE {url} HTTP/1.1\r\n\
             Content-ID: {}\r\n\
             Accept: application/json;odata=minimalmetadata\r\n\
             If-Match: *\r\n\
             DataServiceVersion: 3.0\r\n\r\n",
            i + 1
        ));
    }
    body.push_str(&format!("--{changeset}--\r\n--{batch}--\r\n"));
    (
        format!("multipart/mixed; boundary={batch}"),
        body.into_bytes(),
    )
}

/// The multipart body of one changeset of `(method, URL, entity)` operations.
fn changeset(ops: &[(&str, String, &serde_json::Value)], boundary_seed: u64) -> (String, Vec<u8>) {
    let batch = format!("batch_{boundary_seed:016x}");
    let changeset = format!("changeset_{boundary_seed:016x}");
    let mut body = String::new();
    body.push_str(&format!(
        "--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
    ));
    for (i, (method, url, entity)) in ops.iter().enumerate() {
        body.push_str(&format!(
            "--{changeset}\r\n\
             Content-Type: application/http\r\n\
             Content-Transfer-Encoding: binary\r\n\r\n\
             {method} {url} HTTP/1.1\r\n\
             Content-ID: {}\r\n\
             Content-Type: application/json\r\n\
             Accept: application/json;odata=minimalmetadata\r\n\
             Prefer: return-no-content\r\n\
             DataServiceVersion: 3.0\r\n\r\n\
             {}\r\n",
            i + 1,
            entity
        ));
    }
    body.push_str(&format!("--{changeset}--\r\n--{batch}--\r\n"));
    (
        format!("multipart/mixed; boundary={batch}"),
        body.into_bytes(),
    )
}

/// The status codes of the operations in a batch response, in order. A failed changeset
/// answers with one non-2xx status (its message starts with the failing operation's index).
pub(crate) fn statuses(body: &[u8]) -> Vec<u16> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("HTTP/1.1 ")?;
            rest.get(..3)?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_changeset_and_reads_statuses() {
        let (ct, body) = insert_changeset(
            "http://h/acct/t",
            &[serde_json::json!({"PartitionKey": "p", "RowKey": "1"})],
            7,
        );
        assert_eq!(ct, "multipart/mixed; boundary=batch_0000000000000007");
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("POST http://h/acct/t HTTP/1.1\r\n"));
        assert!(text.ends_with("--changeset_0000000000000007--\r\n--batch_0000000000000007--\r\n"));
        let resp =
            b"--batchresponse_1\r\nContent-Type: multipart/mixed\r\n\r\n--changesetresponse_1\r\n\
Content-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n--changesetresponse_1\r\n\
Content-Type: application/http\r\n\r\nHTTP/1.1 409 Conflict\r\n\r\n";
        assert_eq!(statuses(resp), vec![204, 409]);
    }
}
