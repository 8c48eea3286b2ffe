//! wrenn-cp: the control plane. Only the crate exists so far; the service
//! (REST API, database, auth, scheduler) is the control-plane issue's work.
fn main() -> std::process::ExitCode {
    eprintln!("wrenn-cp: the control plane is not implemented yet (see the control-plane issue)");
    std::process::ExitCode::from(2)
}
