//! Signup and login: sessions, the first user as platform admin, and
//! refused bodies.
use super::*;

both_dbs!(
    signup_when_valid_then_session_and_me_agree,
    |kind| async move {
        let app = TestApp::start(kind).await;

        let body = json!({"email": " Ada@Example.com ", "password": PASSWORD, "name": "Ada"});
        let (status, session) = app.request(POST, "/v1/auth/signup", None, Some(body)).await;
        let token = session["token"].as_str().expect("token");
        let (me_status, me) = app.request(GET, "/v1/me", Some(token), None).await;

        assert_eq!(status, StatusCode::CREATED, "{session}");
        assert_eq!(session["user"]["email"], "ada@example.com");
        assert_eq!(session["team"]["name"], "Ada's team");
        assert_eq!(session["team"]["role"], "owner");
        assert!(session["expires_at"]
            .as_str()
            .expect("expires_at")
            .ends_with('Z'));
        assert!(session["user"].get("password_hash").is_none());
        assert_eq!(me_status, StatusCode::OK);
        assert_eq!(me["user"]["id"], session["user"]["id"]);
        assert_eq!(me["team"]["id"], session["team"]["id"]);
        assert_eq!(me["teams"].as_array().map(Vec::len), Some(1));
    }
);

both_dbs!(
    signup_when_first_user_then_admin_and_second_not,
    |kind| async move {
        let app = TestApp::start(kind).await;

        let (first, _) = app.signup("first@example.com").await;
        let (second, _) = app.signup("second@example.com").await;
        let (_, first_me) = app.request(GET, "/v1/me", Some(&first), None).await;
        let (_, second_me) = app.request(GET, "/v1/me", Some(&second), None).await;

        assert_eq!(first_me["user"]["is_admin"], true);
        assert_eq!(second_me["user"]["is_admin"], false);
    }
);

both_dbs!(
    signup_when_concurrent_on_fresh_db_then_one_admin,
    |kind| async move {
        let app = TestApp::start(kind).await;

        let signups = (0..6).map(|i| {
            let body = json!({"email": format!("u{i}@example.com"), "password": PASSWORD});
            app.request(POST, "/v1/auth/signup", None, Some(body))
        });
        let answers = futures_util::future::join_all(signups).await;

        assert!(
            answers.iter().all(|(s, _)| *s == StatusCode::CREATED),
            "{answers:?}"
        );
        let admins = answers
            .iter()
            .filter(|(_, a)| a["user"]["is_admin"] == true)
            .count();
        assert_eq!(admins, 1);
    }
);

both_dbs!(
    signup_when_email_taken_in_any_case_then_409,
    |kind| async move {
        let app = TestApp::start(kind).await;
        app.signup("ada@example.com").await;

        let (status, answer) = app
            .request(
                POST,
                "/v1/auth/signup",
                None,
                creds("ADA@example.com", PASSWORD),
            )
            .await;

        assert_eq!(status, StatusCode::CONFLICT);
        assert_error(&answer, "conflict");
    }
);

both_dbs!(
    signup_when_bad_email_or_password_then_422,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let long = "x".repeat(1025);

        for (email, password) in [
            ("not-an-email", PASSWORD),
            ("ada@example.com", "short"),
            ("ada@example.com", long.as_str()),
        ] {
            let (status, answer) = app
                .request(POST, "/v1/auth/signup", None, creds(email, password))
                .await;

            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{email} {answer}");
            assert_error(&answer, "validation_failed");
        }
    }
);

both_dbs!(
    signup_when_body_malformed_then_typed_errors,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let raw = |content_type: &str, body: String| {
            Request::post("/v1/auth/signup")
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .expect("request")
        };
        let oversize = format!(
            r#"{{"email":"a@b.io","password":"{}"}}"#,
            "x".repeat(1 << 20)
        );
        let unknown = json!({"email": "a@b.io", "password": PASSWORD, "admin": true}).to_string();
        let cases = [
            (
                raw("application/json", "{\"email\":".into()),
                StatusCode::BAD_REQUEST,
                "invalid_json",
            ),
            (
                raw("application/json", unknown),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                raw("text/plain", "{}".into()),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            (
                raw("application/json", oversize),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
        ];

        for (request, want_status, want_code) in cases {
            let (status, answer) = app.send(request).await;

            assert_eq!(status, want_status, "{answer}");
            assert_error(&answer, want_code);
        }
    }
);

both_dbs!(
    login_when_password_right_then_session_else_same_401,
    |kind| async move {
        let app = TestApp::start(kind).await;
        app.signup("ada@example.com").await;

        let (ok, session) = app
            .request(
                POST,
                "/v1/auth/login",
                None,
                creds("Ada@example.com", PASSWORD),
            )
            .await;
        let (wrong, wrong_answer) = app
            .request(
                POST,
                "/v1/auth/login",
                None,
                creds("ada@example.com", "wrong password"),
            )
            .await;
        let (unknown, unknown_answer) = app
            .request(
                POST,
                "/v1/auth/login",
                None,
                creds("nobody@example.com", PASSWORD),
            )
            .await;

        assert_eq!(ok, StatusCode::OK, "{session}");
        assert_eq!(session["team"]["personal"], true);
        let (_, me) = app
            .request(GET, "/v1/me", session["token"].as_str(), None)
            .await;
        assert_eq!(me["user"]["email"], "ada@example.com");
        assert_eq!(
            (wrong, unknown),
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            assert_error(&wrong_answer, "unauthenticated"),
            assert_error(&unknown_answer, "unauthenticated")
        );
    }
);
