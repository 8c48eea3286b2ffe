//! `signup`, `login`, `logout`, `whoami`: the session token's life cycle.

use std::io::{BufRead, IsTerminal};

use serde::Serialize;
use serde_json::Value;

use super::{CommandError, Context};
use crate::cli::{LoginArgs, SignupArgs};
use crate::client::{ClientError, Credential};
use crate::render;

#[derive(Serialize)]
struct SignupBody<'a> {
    email: &'a str,
    password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    email: &'a str,
    password: &'a str,
}

pub async fn signup(ctx: &Context, args: SignupArgs) -> Result<u8, CommandError> {
    let password = read_password(args.password_stdin, true)?;
    let body = SignupBody {
        email: &args.email,
        password: &password,
        name: args.name.as_deref(),
    };
    let answer = ctx.client.post("/v1/auth/signup", &body).await?;
    store_session(ctx, &answer)?;
    ctx.output(&answer, session_summary)?;
    Ok(0)
}

pub async fn login(ctx: &Context, args: LoginArgs) -> Result<u8, CommandError> {
    let password = read_password(args.password_stdin, false)?;
    let body = LoginBody {
        email: &args.email,
        password: &password,
    };
    let answer = ctx.client.post("/v1/auth/login", &body).await?;
    store_session(ctx, &answer)?;
    ctx.output(&answer, session_summary)?;
    Ok(0)
}

pub fn logout(ctx: &Context) -> Result<u8, CommandError> {
    let mut file = ctx.file.clone();
    file.clear_credential();
    ctx.store.save(&file)?;
    ctx.output(&Value::Null, |_| {
        Some(format!(
            "Removed the stored credential from {}",
            ctx.store.path().display()
        ))
    })?;
    Ok(0)
}

pub async fn whoami(ctx: &Context) -> Result<u8, CommandError> {
    let me = ctx.client.get("/v1/me", &[]).await?;
    ctx.output(&me, |me| {
        let mut lines = vec![
            format!(
                "user:  {} ({})",
                render::cell(&me["user"], "email"),
                render::cell(&me["user"], "id")
            ),
            format!(
                "team:  {} ({})",
                render::cell(&me["team"], "name"),
                render::cell(&me["team"], "id")
            ),
            format!("api:   {}", ctx.client.base_url()),
        ];
        if let Some(teams) = me["teams"].as_array() {
            let rows: Vec<Vec<String>> = teams
                .iter()
                .map(|t| {
                    vec![
                        render::cell(t, "id"),
                        render::cell(t, "name"),
                        render::cell(t, "role"),
                    ]
                })
                .collect();
            lines.push(String::new());
            lines.push(render::table(&["TEAM ID", "NAME", "ROLE"], &rows));
        }
        Some(lines.join("\n"))
    })?;
    Ok(0)
}

/// Stores the answer's token (and the API URL it came from) as the credential.
fn store_session(ctx: &Context, answer: &Value) -> Result<(), CommandError> {
    let Some(token) = answer["token"].as_str() else {
        let url = ctx.client.base_url().to_owned();
        return Err(ClientError::MissingField {
            url,
            field: "token",
        }
        .into());
    };
    let mut file = ctx.file.clone();
    file.api_url = Some(ctx.settings.api_url.clone());
    let expires_at = answer["expires_at"].as_str().map(str::to_owned);
    file.set_credential(Credential::Token(token.to_owned()), expires_at);
    ctx.store.save(&file)?;
    Ok(())
}

fn session_summary(answer: &Value) -> Option<String> {
    Some(format!(
        "Logged in as {} (team {}); session until {}",
        render::cell(&answer["user"], "email"),
        render::cell(&answer["team"], "name"),
        render::cell(answer, "expires_at"),
    ))
}

/// The password: one line of stdin with `--password-stdin`, else a prompt
/// without echo (twice when `confirm`) on the terminal.
fn read_password(from_stdin: bool, confirm: bool) -> Result<String, CommandError> {
    let input_err = |source| CommandError::Input {
        what: "the password",
        source,
    };
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(input_err)?;
        let password = line.trim_end_matches(['\n', '\r']).to_owned();
        if password.is_empty() {
            return Err(CommandError::Usage(
                "empty password on standard input".into(),
            ));
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CommandError::Usage(
            "no terminal to prompt for a password: use --password-stdin".into(),
        ));
    }
    let password = rpassword::prompt_password("Password: ").map_err(input_err)?;
    if confirm && rpassword::prompt_password("Repeat password: ").map_err(input_err)? != password {
        return Err(CommandError::Usage("the passwords differ".into()));
    }
    Ok(password)
}
