//! TLS termination through the binary, and a certificate renewed in place
//! taking effect on reload.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use lb_e2e::{client, free_port, local, request, LbServer};
use lb_test_support::HttpBackend;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `localhost`: (cert PEM, key PEM, cert DER).
fn certificate() -> anyhow::Result<(String, String, CertificateDer<'static>)> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    Ok((
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().clone(),
    ))
}

/// `GET /` over TLS trusting only `trusted`; the status, or the TLS error.
async fn get_tls(port: u16, trusted: &CertificateDer<'static>) -> anyhow::Result<u16> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(local(port)).await?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("/")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())?;
    let resp = send.send_request(req).await?;
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await?;
    Ok(status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_terminated_and_a_renewed_certificate_is_used_after_reload() -> anyhow::Result<()> {
    let backend = HttpBackend::start("secure").await;
    let (port, admin) = (free_port(), free_port());
    let config = format!(
        r#"
[admin]
bind = "127.0.0.1:{admin}"
[listeners.web]
bind = "127.0.0.1:{port}"
tls = {{ cert = "site.pem", key = "site.key" }}
[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"
[upstreams.api]
servers = [{{ addr = "{addr}" }}]
"#,
        addr = backend.addr()
    );
    // The certificate files sit next to the configuration file (relative
    // paths are resolved against its directory): write them before start.
    let (pem1, key1, der1) = certificate()?;
    let dir = lb_e2e::TempDir::new()?;
    let (cert_path, key_path) = (dir.path().join("site.pem"), dir.path().join("site.key"));
    std::fs::write(&cert_path, &pem1)?;
    std::fs::write(&key_path, &key1)?;
    let config = config
        .replace(
            "\"site.pem\"",
            &format!("{:?}", cert_path.display().to_string()),
        )
        .replace(
            "\"site.key\"",
            &format!("{:?}", key_path.display().to_string()),
        );
    let lb = LbServer::start(&config, &[local(port), local(admin)]).await?;
    assert_eq!(get_tls(port, &der1).await?, 200);

    // Renew: new key and certificate at the same paths, then reload.
    let (pem2, key2, der2) = certificate()?;
    std::fs::write(&cert_path, &pem2)?;
    std::fs::write(&key_path, &key2)?;
    lb.write_config(&config)?;
    let r = request(
        &client(),
        "POST",
        &format!("http://127.0.0.1:{admin}/reload"),
        &[],
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get_tls(port, &der2).await?,
        200,
        "the renewed certificate is served"
    );
    assert!(
        get_tls(port, &der1).await.is_err(),
        "the old certificate is no longer served"
    );
    Ok(())
}
