"""What an administrator does from the command line, over HTTP: status, breakers, rules (check,
explain, reload with its diff, versions), dead letters (show, replay, discard), participants
and their certificates; each change on the audit log with who and why."""

from __future__ import annotations

from tests.hub.api.support import serving_api
from tests.hub.harness import (
    Deployment,
    FlakyAdapter,
    route_agencies_to,
    running_hub,
    submit,
    tune_retries,
    wait_for_state,
)

RULE = """rules:
  - name: land-to-culture
    priority: 5
    match:
      sender: dept.land
      recipient: dept.culture
    reject: "land writes to culture on paper"
"""


async def test_dead_letters_rules_and_participants(deployment: Deployment) -> None:
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment)
    flaky = FlakyAdapter("refuse")
    async with (
        running_hub(deployment, {"flaky": flaky}) as hub,
        serving_api(hub, deployment) as api,
        api.client("admin") as http,
    ):
        lost, body = deployment.envelope(recipient="agency.remote")
        kept, other = deployment.envelope(recipient="agency.other")
        for envelope in (body, other):
            await submit(hub, envelope)
        for message_id in (lost, kept):
            await wait_for_state(hub.store, message_id, {"dead_lettered"})

        status = (await http.get("/v1/admin/status")).json()
        assert status["dead_letters"] == 2 and status["mode"] in ("embedded", "rabbitmq")
        # this hub is the one node alive: where it serves, and the job it does for all
        (node,) = (await http.get("/v1/admin/nodes")).json()
        assert node["node"] == hub.node and node["api"] == api.url
        assert node["jobs"] == ["archive-heads", "execution-control"]
        assert node["rules_version"] == hub.rules.version
        assert [n["node"] for n in status["nodes"]] == [hub.node]
        assert status["jobs"]["execution-control"]["holder"] == hub.node
        letters = (await http.get("/v1/admin/dead-letters")).json()
        assert {d["message_id"] for d in letters} == {lost, kept}
        (letter,) = (await http.get(f"/v1/admin/dead-letters/{lost}")).json()
        assert letter["destination"] == "flaky:remote.example" and letter["error"]
        breakers = (await http.get("/v1/admin/breakers")).json()
        assert all(b["destination"].startswith("flaky:") for b in breakers)

        # replay one (it will be delivered now), discard the other; both with a reason
        flaky.mode = "up"
        replayed = await http.post(
            f"/v1/admin/dead-letters/{lost}/replay",
            json={"reason": "удалённая сторона снова доступна"},
        )
        assert replayed.status_code == 200, replayed.text
        await wait_for_state(hub.store, lost, {"delivered"})
        discarded = await http.post(
            f"/v1/admin/dead-letters/{kept}/discard", json={"reason": "sent on paper"}
        )
        assert discarded.status_code == 200
        assert (await http.get("/v1/admin/dead-letters")).json() == []
        timeline = [(e.state, e.detail) for e in await hub.store.timeline(kept)]
        assert any(
            s == "discarded" and "sent on paper" in d and "hub.main" in d for s, d in timeline
        )

        # rules: check, explain an envelope, then a new rule file reloaded with its diff
        check = (await http.get("/v1/admin/routes/check")).json()
        assert check["errors"] == []
        _, land_memo = deployment.envelope("dept.land", "dept.culture")
        explained = await http.post(
            "/v1/admin/routes/explain",
            content=land_memo,
            headers={"Content-Type": "application/xml"},
        )
        assert explained.status_code == 200, explained.text
        before = explained.json()
        (deployment.directory / "routing_rules" / "paper.yaml").write_text(RULE, encoding="utf-8")
        reloaded = (
            await http.post("/v1/admin/routes/reload", json={"reason": "приказ № 5"})
        ).json()
        assert reloaded["result"] == "applied" and reloaded["version"] != reloaded["previous"]
        assert reloaded["nodes"] == []  # no other node to ask
        after = (
            await http.post(
                "/v1/admin/routes/explain", content=land_memo,
                headers={"Content-Type": "application/xml"},
            )
        ).json()  # fmt: skip
        assert after != before and "land writes to culture on paper" in str(after)
        versions = (await http.get("/v1/admin/routes/versions")).json()
        assert versions[-1]["version"] == reloaded["version"]
        assert "land-to-culture" in versions[-1]["summary"]  # what changed
        # a broken rule file is refused; the rules in force stay
        (deployment.directory / "routing_rules" / "broken.yaml").write_text(
            "rules: [{", encoding="utf-8"
        )
        refused = (await http.post("/v1/admin/routes/reload", json={"reason": "typo"})).json()
        assert refused["result"] == "refused" and refused["problems"]
        assert any("broken.yaml" in p for p in refused["problems"])
        assert hub.rules.version == reloaded["version"]
        bad = await http.post(
            "/v1/admin/routes/explain", content=b"<not-an-envelope/>",
            headers={"Content-Type": "application/xml"},
        )  # fmt: skip
        assert bad.status_code == 422 and bad.json()["problems"]

        # participants and their certificates, with the days left
        participants = {
            p["participant"]: p for p in (await http.get("/v1/admin/participants")).json()
        }
        finance = participants["dept.finance"]
        assert finance["department"] is True
        assert finance["certificates"] and 360 <= finance["certificates"][0]["days_left"] <= 366

        audit = [
            (e["action"], e["target"], e["reason"])
            for e in (await http.get("/v1/admin/audit")).json()
        ]
    assert ("dead_letter.replay", lost, "удалённая сторона снова доступна") in audit
    assert ("dead_letter.discard", kept, "sent on paper") in audit
    assert ("rules.reload", reloaded["version"], "приказ № 5") in audit
    assert [a for a, _, _ in audit].count("rules.reload") == 2  # the refused one too
