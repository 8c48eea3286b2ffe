//! Snapshots through E2B's calls: `POST /sandboxes/{id}/snapshots` (201
//! `{snapshotID, names}`), `GET /snapshots` (filters, pages), a sandbox
//! created from one, and `DELETE /templates/{id}` (204, then 404).
use super::*;

impl Fixture {
    /// `POST /sandboxes/{id}/snapshots` with `body` (asserting 201);
    /// answers the snapshot's id.
    async fn snapshot(&self, id: &str, body: Option<Value>) -> String {
        let answer = self
            .call(POST, &format!("/sandboxes/{id}/snapshots"), body)
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        let snapshot_id = answer.body["snapshotID"]
            .as_str()
            .expect("snapshotID")
            .to_owned();
        assert_eq!(answer.body["names"], json!([snapshot_id]), "{answer:?}");
        snapshot_id
    }

    /// Snapshot ids of `GET /snapshots{query}` (asserting 200), and the
    /// next page's token.
    async fn snapshots(&self, query: &str) -> (Vec<String>, Option<String>) {
        let answer = self.call(GET, &format!("/snapshots{query}"), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {answer:?}");
        let ids = answer
            .body
            .as_array()
            .expect("a list")
            .iter()
            .map(|s| s["snapshotID"].as_str().expect("snapshotID").to_owned())
            .collect();
        (ids, answer.header("x-next-token").map(str::to_owned))
    }
}

both_dbs!(
    snapshot_when_made_then_listed_and_a_sandbox_starts_from_it,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let a = fx.create_id().await;
        let b = fx.create_id().await;

        let named = fx.snapshot(&a, Some(json!({"name": "my-snap"}))).await;
        let generated = fx.snapshot(&b, None).await;

        assert_eq!(named, "my-snap");
        assert!(generated.starts_with("snap-"), "{generated}");
        assert_eq!(
            fx.snapshots(&format!("?sandboxID={a}")).await.0,
            std::slice::from_ref(&named)
        );
        assert_eq!(
            fx.snapshots("?name=my-snap").await.0,
            std::slice::from_ref(&named)
        );
        let (all, _) = fx.snapshots("").await;
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all.contains(&named) && all.contains(&generated));
        let copy = fx.create(json!({"templateID": named})).await;
        assert_eq!(copy["templateID"], "my-snap");
        assert_eq!(fx.detail(&a).await.body["state"], "running");
    }
);

both_dbs!(
    snapshots_when_limit_then_pages_with_next_token,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        for name in ["s-1", "s-2", "s-3"] {
            fx.snapshot(&id, Some(json!({"name": name}))).await;
        }

        let (first, token) = fx.snapshots("?limit=2").await;
        let token = token.expect("a next page");
        let (second, last) = fx.snapshots(&format!("?limit=2&nextToken={token}")).await;

        assert_eq!(first.len(), 2);
        assert_eq!(second.len(), 1);
        assert_eq!(last, None);
        let mut seen: Vec<String> = first.into_iter().chain(second).collect();
        seen.sort();
        assert_eq!(seen, ["s-1", "s-2", "s-3"]);
        for query in ["?limit=0", "?limit=x", "?nextToken=abc", "?sandbox=x"] {
            fx.call(GET, &format!("/snapshots{query}"), None)
                .await
                .error(StatusCode::BAD_REQUEST);
        }
    }
);

both_dbs!(
    snapshot_when_deleted_then_204_then_404_and_gone,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let snap = fx.snapshot(&id, Some(json!({"name": "doomed"}))).await;

        let first = fx.call(DELETE, &format!("/templates/{snap}"), None).await;
        let second = fx.call(DELETE, &format!("/templates/{snap}"), None).await;

        assert_eq!(first.status, StatusCode::NO_CONTENT, "{first:?}");
        second.error(StatusCode::NOT_FOUND);
        assert_eq!(fx.snapshots("").await.0, Vec::<String>::new());
        assert_eq!(fx.agent.deleted_images().len(), 1);
        fx.call(DELETE, "/templates/team%2Fnot%20a%20name", None)
            .await
            .error(StatusCode::NOT_FOUND);
    }
);

both_dbs!(
    snapshot_when_bad_body_taken_name_or_memory_then_refused,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let path = format!("/sandboxes/{id}/snapshots");
        fx.snapshot(&id, Some(json!({"name": "taken"}))).await;

        for body in [
            json!({"name": "Not A Name"}),
            json!({"name": 7}),
            json!({"memory": true}),
            json!({"memory": "no"}),
        ] {
            fx.call(POST, &path, Some(body))
                .await
                .error(StatusCode::BAD_REQUEST);
        }
        fx.call(POST, &path, Some(json!({"name": "taken"})))
            .await
            .error(StatusCode::CONFLICT);
        assert_eq!(fx.snapshots("").await.0, ["taken"]);
    }
);

both_dbs!(
    snapshots_when_other_team_then_404_not_listed_not_deleted,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.snapshot(&id, Some(json!({"name": "mine"}))).await;
        let (other_token, _) = fx.app.signup("eve@example.com").await;
        let other = fx.app.api_key(&other_token).await;

        let made = fx
            .send_as(
                Some(&other),
                POST,
                &format!("/sandboxes/{id}/snapshots"),
                &[],
                None,
            )
            .await;
        let listed = fx.send_as(Some(&other), GET, "/snapshots", &[], None).await;
        let deleted = fx
            .send_as(Some(&other), DELETE, "/templates/mine", &[], None)
            .await;

        assert_eq!(made.error(StatusCode::NOT_FOUND), "sandbox not found");
        assert_eq!(listed.body, json!([]));
        deleted.error(StatusCode::NOT_FOUND);
        assert_eq!(fx.snapshots("").await.0, ["mine"]);
    }
);
