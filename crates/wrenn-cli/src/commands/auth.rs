//! `signup`, `login`, `logout`, `whoami`: the session token's life cycle.

use std::io::{BufRead, IsTerminal};

use serde::Serialize;
use serde_json::Value;

use super::{CommandError, Context};
use crate::cli::{LoginArgs, SignupArgs};
use crate::client::{Answer, Credential};
use crate::render;
use crate::responses::{Me, Session};

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
    let answer = ctx.client.post_as("/v1/auth/signup", &body).await?;
    store_session(ctx, &answer)?;
    ctx.output_as(&answer, session_summary)?;
    Ok(0)
}

pub async fn login(ctx: &Context, args: LoginArgs) -> Result<u8, CommandError> {
    let password = read_password(args.password_stdin, false)?;
    let body = LoginBody {
        email: &args.email,
        password: &password,
    };
    let answer = ctx.client.post_as("/v1/auth/login", &body).await?;
    store_session(ctx, &answer)?;
    ctx.output_as(&answer, session_summary)?;
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
    let me: Answer<Me> = ctx.client.get_as("/v1/me", &[]).await?;
    ctx.output_as(&me, |me| {
        // An API key has no user: its fields print as absent ones do.
        let (email, user_id) = match &me.user {
            Some(user) => (user.email.clone(), user.id.to_string()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let rows: Vec<Vec<String>> = me
            .teams
            .iter()
            .map(|t| vec![t.id.to_string(), t.name.clone(), t.role.clone()])
            .collect();
        let lines = [
            format!("user:  {email} ({user_id})"),
            format!("team:  {} ({})", me.team.name, me.team.id),
            format!("api:   {}", ctx.client.base_url()),
            String::new(),
            render::table(&["TEAM ID", "NAME", "ROLE"], &rows),
        ];
        Some(lines.join("\n"))
    })?;
    Ok(0)
}

/// Stores the answer's token (and the API URL it came from) as the credential.
fn store_session(ctx: &Context, answer: &Answer<Session>) -> Result<(), CommandError> {
    let session = &answer.body;
    let mut file = ctx.file.clone();
    file.api_url = Some(ctx.settings.api_url.clone());
    file.set_credential(
        Credential::Token(session.token.clone()),
        Some(session.expires_at.clone()),
    );
    ctx.store.save(&file)?;
    Ok(())
}

fn session_summary(session: &Session) -> Option<String> {
    Some(format!(
        "Logged in as {} (team {}); session until {}",
        session.user.email, session.team.name, session.expires_at,
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
