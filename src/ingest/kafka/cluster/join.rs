//! Joining a cluster: a running replica's newest checkpoint taken over
//! HTTP (`cluster.join_from`).

use super::*;

/// Takes a running replica's newest checkpoint (`GET
/// /v1/cluster/checkpoint` at `peer`, an `http://host:port`) into `dir`, for
/// a replica that has none; what it says of it, for the start-up line. The
/// file is checked whole (checksums, hash key, versions) when loaded, like
/// any checkpoint.
pub async fn join_from(peer: &str, api_key: &str, dir: &std::path::Path) -> Result<String, String> {
    use http_body_util::BodyExt;
    let fail = |what: String| format!("cluster.join_from {peer}: {what}");
    let uri: hyper::Uri = format!("{}/v1/cluster/checkpoint", peer.trim_end_matches('/'))
        .parse()
        .map_err(|e| fail(format!("not an address: {e}")))?;
    let host = uri.host().unwrap_or_default().to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| fail("no answer within 10 s".into()))?
    .map_err(|e| fail(format!("cannot connect: {e}")))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| fail(e.to_string()))?;
    tokio::spawn(conn);
    let request = hyper::Request::get(uri.path())
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::AUTHORIZATION, format!("Bearer {api_key}"))
        .body(http_body_util::Empty::<axum::body::Bytes>::new())
        .map_err(|e| fail(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    let offset = response
        .headers()
        .get("x-palisade-log-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = response.into_body();
    if !status.is_success() {
        let text = body
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        return Err(fail(format!("answered {status}: {}", text.trim())));
    }
    let offset = offset.ok_or_else(|| fail("no X-Palisade-Log-Offset header".into()))?;
    crate::state::private_dir(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    let name = format!("checkpoint-{offset:020}");
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(format!("{name}.ckpt"));
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| fail(format!("{}: {e}", tmp.display())))?;
    let mut bytes = 0u64;
    let started = Instant::now();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| fail(format!("the transfer broke off: {e}")))?;
        if let Ok(data) = frame.into_data() {
            use tokio::io::AsyncWriteExt;
            bytes += data.len() as u64;
            file.write_all(&data)
                .await
                .map_err(|e| fail(format!("{}: {e}", tmp.display())))?;
        }
    }
    file.sync_all()
        .await
        .map_err(|e| fail(format!("{}: {e}", tmp.display())))?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    Ok(format!(
        "checkpoint at log offset {offset} taken from {peer} ({} in {:.1} s)",
        bytesize::ByteSize(bytes),
        started.elapsed().as_secs_f64()
    ))
}
