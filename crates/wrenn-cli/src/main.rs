//! `wrenn`: the command line over the control plane's REST API. Only the
//! crate exists so far; commands arrive with the control-plane issue.
fn main() -> std::process::ExitCode {
    eprintln!("wrenn: the CLI is not implemented yet (see the control-plane issue)");
    std::process::ExitCode::from(2)
}
