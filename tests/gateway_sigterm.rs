//! SIGTERM drains: a request in flight when the process gets SIGTERM still completes, and the
//! server then stops. Its own test binary, because the signal goes to the whole process.

mod gateway_support;

use std::time::Duration;

use tokio::net::TcpListener;

use aclgate::server::{self, Listeners};
use gateway_support::Gateway;

#[tokio::test]
async fn sigterm_drains_in_flight_requests() {
    let mut gw = Gateway::start().await;
    // A second server on the same snapshot, stopped by the real SIGTERM handler.
    let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tls.local_addr().unwrap();
    let listeners = Listeners {
        tls: Some(tls),
        http: None,
        admin: None,
    };
    let shutdown = aclgate::cli::serve::shutdown_signal();
    let server = tokio::spawn(server::run(listeners, gw.reader.clone(), shutdown));

    let client = gw.client();
    let url = format!("https://127.0.0.1:{}/api2/json/hold", addr.port());
    let auth = Gateway::token_header("joe@pve!full");
    let in_flight = tokio::spawn(async move {
        let resp = client
            .get(url)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    });
    gw.upstream.arrivals.recv().await.unwrap();

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Stopped accepting...
    let refused = async move {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .unwrap();
    // ...and the in-flight request completes once the upstream answers.
    gw.upstream.release.notify_one();
    let (code, body) = in_flight.await.unwrap();
    assert_eq!(code, 200, "{body}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
