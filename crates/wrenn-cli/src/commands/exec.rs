//! `exec`: run a command, streamed over the exec WebSocket by default, or
//! through `POST /exec` with `--no-stream` (and with `--json`, whose one
//! document is that endpoint's answer).

use std::io::IsTerminal;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::sandbox::to_map;
use super::{CommandError, Context};
use crate::cli::ExecArgs;
use crate::client::{Answer, ClientError};
use crate::exec_ws::{self, ExecIo, ExecRequest};
use crate::render;
use crate::responses::ExecResult;

pub async fn run(ctx: &Context, args: ExecArgs) -> Result<u8, CommandError> {
    let request = ExecRequest {
        command: command_line(&args.command),
        user: args.user,
        cwd: args.cwd,
        env: to_map(args.env),
        timeout_secs: args.timeout,
    };
    let id = args.id;
    if args.no_stream || ctx.json {
        let answer = ctx
            .client
            .post_as(&format!("/v1/sandboxes/{id}/exec"), &request)
            .await?;
        return print_collected(ctx, &answer).await;
    }
    let ws = ctx
        .client
        .websocket(&format!("/v1/sandboxes/{id}/exec/ws"), &[])
        .await?;
    let (interrupt_tx, interrupts) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if interrupt_tx.send(()).is_err() {
                break;
            }
        }
    });
    let stdin = (!std::io::stdin().is_terminal()).then(tokio::io::stdin);
    let io = ExecIo {
        stdin,
        stdout: tokio::io::stdout(),
        stderr: tokio::io::stderr(),
        interrupts,
    };
    let code = exec_ws::run(ws, &request, io).await?;
    Ok(exec_ws::exit_status(code))
}

/// One argument is a shell line and passes as is; several are quoted for a
/// POSIX shell and joined, so `wrenn exec ID -- ls "a b"` lists one file.
pub fn command_line(argv: &[String]) -> String {
    match argv {
        [one] => one.clone(),
        many => many
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

async fn print_collected(ctx: &Context, answer: &Answer<ExecResult>) -> Result<u8, CommandError> {
    let result = &answer.body;
    let code = result.exit_code;
    if ctx.json {
        render::print_line(&render::json_document(&answer.raw))?;
        return Ok(exec_ws::exit_status(code));
    }
    let base64 = result.encoding == "base64";
    let decode = |text: &str| -> Result<Vec<u8>, CommandError> {
        if base64 {
            BASE64.decode(text).map_err(|_| {
                let url = ctx.client.base_url().to_owned();
                CommandError::Client(ClientError::MissingField {
                    url,
                    field: "base64 output",
                })
            })
        } else {
            Ok(text.as_bytes().to_vec())
        }
    };
    let mut stdout = tokio::io::stdout();
    stdout.write_all(&decode(&result.stdout)?).await?;
    stdout.flush().await?;
    let mut stderr = tokio::io::stderr();
    stderr.write_all(&decode(&result.stderr)?).await?;
    stderr.flush().await?;
    Ok(exec_ws::exit_status(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn command_line_when_one_argument_then_verbatim() {
        assert_eq!(
            command_line(&argv(&["echo $HOME | wc -c"])),
            "echo $HOME | wc -c"
        );
    }

    #[test]
    fn command_line_when_several_arguments_then_quoted_and_joined() {
        assert_eq!(
            command_line(&argv(&["ls", "-la", "a b", "it's"])),
            r"ls -la 'a b' 'it'\''s'"
        );
    }
}
