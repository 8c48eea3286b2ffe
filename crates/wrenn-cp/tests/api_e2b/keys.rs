//! API keys in E2B's form (`e2b_` + 40 hex digits): minted on request,
//! valid on both APIs; Wrenn-form keys work on the E2B API too.
use super::*;

async fn mint_e2b_key(fx: &Fixture) -> String {
    let (status, answer) = fx
        .app
        .request(
            POST,
            "/v1/keys",
            Some(&fx.token),
            Some(json!({"name": "sdk", "e2b": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(answer["prefix"].as_str().unwrap().starts_with("e2b_"));
    answer["key"].as_str().expect("key").to_owned()
}

both_dbs!(key_when_e2b_form_asked_then_e2b_hex, |kind| async move {
    let fx = Fixture::start(kind).await;

    let key = mint_e2b_key(&fx).await;

    let hex = key.strip_prefix("e2b_").expect("e2b_ prefix");
    assert_eq!(hex.len(), 40, "{key}");
    assert!(hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
});

both_dbs!(
    key_when_e2b_form_then_valid_on_both_apis,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let key = mint_e2b_key(&fx).await;

        let e2b = fx
            .send_as(Some(&key), GET, "/v2/sandboxes", &[], None)
            .await;
        let (status, _) = fx.app.request(GET, "/v1/sandboxes", Some(&key), None).await;

        assert_eq!(e2b.status, StatusCode::OK, "{e2b:?}");
        assert_eq!(status, StatusCode::OK);
    }
);

both_dbs!(key_when_e2b_form_revoked_then_401, |kind| async move {
    let fx = Fixture::start(kind).await;
    let key = mint_e2b_key(&fx).await;
    let (_, list) = fx.app.request(GET, "/v1/keys", Some(&fx.token), None).await;
    let id = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["prefix"].as_str().unwrap().starts_with("e2b_"))
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .expect("the e2b key is listed");

    let (status, _) = fx
        .app
        .request(DELETE, &format!("/v1/keys/{id}"), Some(&fx.token), None)
        .await;

    assert_eq!(status, StatusCode::NO_CONTENT);
    fx.send_as(Some(&key), GET, "/v2/sandboxes", &[], None)
        .await
        .error(StatusCode::UNAUTHORIZED);
});
