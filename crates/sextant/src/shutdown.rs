//! The signal that stops a long-running command (`sextant server`, `sextant serve`): Ctrl-C
//! (SIGINT) or SIGTERM, whichever comes first.

/// Resolves when the process is asked to stop. A signal whose handler cannot be installed is
/// never waited for (rather than taken as a request to stop at once).
pub async fn requested() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing the requests in flight");
}
