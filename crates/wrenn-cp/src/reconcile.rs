//! The reconciler (filled in below).
pub fn spawn(state: crate::state::AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = state;
    })
}
